// worker_threads entry, only under `test_hooks` faults: the real ONNX Runtime session service
// (backends/onnxruntime-session.ts) with faults injected around it, per model, counted across the model's threads:
// - fail_thread_starts: the thread's start fails, as a session that cannot be created would;
// - crash_thread: the thread ends (exit code 70) in the middle of the inference;
// - hang: the thread runs a real native hang (testing/spin-model.ts) inside session.run, and never answers.
import ort from 'onnxruntime-node'
import {
  createOnnxSessionService,
  type OnnxRunReply,
  type OnnxRunRequest,
  type OnnxSessionInfo,
  type OnnxThreadData,
} from '../backends/onnxruntime-session.js'
import { serveThread } from '../threads/thread-service.js'
import { strikes } from './fault-counter.js'
import type { FaultPlan } from './fault-plan.js'
import { buildSpinModel, SPIN_FOREVER } from './spin-model.js'

serveThread<OnnxRunRequest, OnnxRunReply, OnnxSessionInfo>((data) => {
  const config = data as OnnxThreadData
  const faults = (config.extra as FaultPlan | undefined)?.[config.model.name]
  const service = createOnnxSessionService(data)
  if (!faults) return service
  let spin: ort.InferenceSession | null = null
  return {
    async start() {
      if (strikes(faults.fail_thread_starts)) {
        throw new Error('test hook fail_thread_starts: this thread start fails')
      }
      if (faults.hang) spin = await ort.InferenceSession.create(buildSpinModel(), { intraOpNumThreads: 1 })
      return service.start()
    },
    async handle(request) {
      if (strikes(faults.crash_thread)) process.exit(70) // in a worker thread: ends this thread only
      if (spin && strikes(faults.hang)) {
        await spin.run({
          iterations: new ort.Tensor('int64', BigInt64Array.of(SPIN_FOREVER), [1]),
          x: new ort.Tensor('float32', new Float32Array(1), [1]),
        })
      }
      return service.handle(request)
    },
    async close() {
      await spin?.release()
      await service.close?.()
    },
  }
})
