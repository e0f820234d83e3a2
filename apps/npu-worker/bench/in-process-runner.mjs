#!/usr/bin/env node
// A child process of the worker benchmarks that runs one model in-process, through the same ONNX Runtime
// backend and settings the worker uses, with no HTTP in front: the other side of "served ÷ in-process". A
// process of its own so it can be pinned to the core the worker gets (and so the load generator's process
// never lends it CPU). Driven over IPC (advanced serialization, so typed arrays cross as they are):
//   { type: 'load', name, modelPath, instances, input, shape, data }  → { type: 'loaded' }
//   { type: 'measure', seconds, concurrency, rows? }  → { type: 'measured', result } (result.cpuSeconds:
//     this process's CPU over the window, all threads; `rows`: send that many copies of the loaded input
//     stacked along dimension 0, a batch of that size)
//   { type: 'close' }  → unloads and exits
import { OnnxRuntimeBackend } from '../dist/backends/onnxruntime.js'
import { COMPILED_THREAD_ENTRIES } from '../dist/threads/thread-entries.js'
import { cpuSeconds, measure } from './lib.mjs'

const backend = new OnnxRuntimeBackend({ threadEntry: COMPILED_THREAD_ENTRIES.onnxruntime })
let model = null

process.on('message', async (message) => {
  try {
    if (message.type === 'load') {
      const loaded = await backend.load({
        name: message.name,
        version: '1',
        modelPath: message.modelPath,
        device: 'CPU',
        threads: 1,
        instances: message.instances,
        performanceHint: 'LATENCY',
        cacheDir: null,
        inferTimeoutMs: 60_000,
      })
      const { input, shape, data } = message
      // A fresh copy per call, as a request decoded from the wire would be; the backend may take it.
      const infer = (rows) => {
        const batch = rows === undefined ? data.slice() : new Float32Array(data.length * rows)
        if (rows !== undefined) for (let r = 0; r < rows; r++) batch.set(data, r * data.length)
        const dims = rows === undefined ? shape : [shape[0] * rows, ...shape.slice(1)]
        return loaded.infer({ [input]: { datatype: 'FP32', shape: dims, data: batch } }, undefined, {
          transferInputs: true,
        })
      }
      model = { loaded, infer }
      process.send({ type: 'loaded' })
    } else if (message.type === 'measure') {
      const cpu0 = cpuSeconds(process.pid)
      const result = await measure(() => model.infer(message.rows), message.concurrency, message.seconds)
      process.send({ type: 'measured', result: { ...result, cpuSeconds: cpuSeconds(process.pid) - cpu0 } })
    } else if (message.type === 'close') {
      await model?.loaded.unload()
      await backend.close()
      process.exit(0)
    }
  } catch (error) {
    process.send({ type: 'error', message: error.message })
  }
})
