// The OpenVINO backend on the REAL openvino-node runtime. On a host where it loads (an Intel NPU host with
// openvino-node and its native runtime installed) the contract runs on the CPU and on every NPU; elsewhere
// (this build machine: the addon's ov_node_addon.node is missing) the probe must say why instead.
import { describe, expect, it } from 'vitest'
import { OpenvinoBackend } from '../../src/backends/openvino.js'
import { loadOpenvinoRuntime } from '../../src/backends/openvino-runtime.js'
import {
  CLS_OUTPUT,
  clsInput,
  clsSpec,
  describeBackendContract,
  expectClose,
  referenceOutput,
} from './backend-contract.js'

const realOpenvino = loadOpenvinoRuntime()
const realOpenvinoLoads = realOpenvino.runtime !== null
const realDevices = realOpenvino.runtime ? new realOpenvino.runtime.Core().getAvailableDevices() : []
const hasNpu = realDevices.includes('NPU')

describe.skipIf(realOpenvinoLoads)('OpenvinoBackend where openvino-node cannot load', () => {
  it('probes as unavailable with the loader error, and never throws', async () => {
    const probe = await new OpenvinoBackend().probe()
    expect(probe.available).toBe(false)
    expect(probe.version).toBeNull()
    expect(probe.devices).toEqual([])
    // pnpm without install scripts: the JS package is there without its addon; on Node 20 as an optional
    // dependency it may be missing altogether. Both are MODULE_NOT_FOUND.
    expect(probe.error).toMatch(/^openvino-node cannot be loaded: MODULE_NOT_FOUND: Cannot find module/)
  })

  it('refuses to load with the same reason', async () => {
    await expect(new OpenvinoBackend().load(clsSpec())).rejects.toThrow(
      /openvino-node cannot be loaded: MODULE_NOT_FOUND/,
    )
  })
})

describe.skipIf(!realOpenvinoLoads)('OpenvinoBackend on the real runtime', () => {
  describeBackendContract('openvino (real runtime) on CPU', {
    backend: () => new OpenvinoBackend(),
    spec: clsSpec(),
  })

  describe.skipIf(!hasNpu)('on the NPU', () => {
    describeBackendContract('openvino (real runtime) on NPU, static batch 1', {
      backend: () => new OpenvinoBackend(),
      spec: clsSpec({ device: 'NPU', staticShapes: { x: [1, 3, 48, 192] } }),
    })

    it('splits a batch of 4 into batch-1 NPU inferences that match the reference', async () => {
      const backend = new OpenvinoBackend()
      const model = await backend.load(clsSpec({ device: 'NPU', staticShapes: { x: [1, 3, 48, 192] } }))
      expect(model.compiledBatchSizes).toEqual([1])
      const input = clsInput(4, 99)
      const out = (await model.infer({ x: input }))[CLS_OUTPUT]!
      expect(out.shape).toEqual([4, 2])
      expectClose(out.data as Float32Array, await referenceOutput(input))
      await backend.close()
    })
  })

  it('probes the real devices and version', async () => {
    const probe = await new OpenvinoBackend().probe()
    expect(probe).toMatchObject({ available: true, error: null })
    expect(probe.devices).toEqual(realDevices)
  })
})
