// The OpenVINO GenAI generator on the REAL openvino-genai-node. On a host where it loads (an Intel NPU host with
// the GenAI runtime installed) and NPU_WORKER_GENAI_MODEL names an exported model folder (optimum-cli export
// openvino ... --weight-format int4 --sym --group-size -1, with the ONNX export's model.onnx copied beside it
// for the reference answers), the contract runs on the CPU and on the NPU; elsewhere (this build machine: no
// native addon) the backend must say why instead. None of it has run on NPU hardware here.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { GeneratorLoadSpec } from '../../src/generation/generation-backend.js'
import { generationOnnxPath } from '../../src/generation/generation-files.js'
import { GenerationSectionSchema } from '../../src/generation/generation-manifest.js'
import { OnnxGenerationBackend } from '../../src/generation/onnx-generation-backend.js'
import { OpenvinoGenaiBackend } from '../../src/generation/openvino-genai-backend.js'
import { loadOpenvinoGenaiRuntime } from '../../src/generation/openvino-genai-runtime.js'
import { describeGenaiContract } from './genai-generator-contract.js'
import { GENERATION_THREAD_ENTRY } from './generation-harness.js'

const load = await loadOpenvinoGenaiRuntime()
const loads = load.runtime !== null
const modelDir = process.env.NPU_WORKER_GENAI_MODEL ?? ''
const haveModel = modelDir !== '' && existsSync(join(modelDir, 'openvino_model.xml'))
const probe = loads ? await new OpenvinoGenaiBackend().probe() : null

describe.skipIf(loads)('OpenvinoGenaiBackend where openvino-genai-node cannot load', () => {
  it('probes as unavailable with the loader error, never throws, and refuses to load with it', async () => {
    const backend = new OpenvinoGenaiBackend()
    const result = await backend.probe()
    expect(result).toMatchObject({ available: false, devices: [] })
    expect(result.error).toMatch(/^openvino-genai-node cannot be loaded: /)
    const spec: GeneratorLoadSpec = {
      name: 'x',
      version: '1',
      modelPath: join(modelDir || '/nonexistent', 'openvino_model.xml'),
      modelDir: modelDir || '/nonexistent',
      device: 'CPU',
      section: GenerationSectionSchema.parse({}),
      threads: 1,
      stepTimeoutMs: 1000,
      loadTimeoutMs: 1000,
      cacheDir: null,
    }
    await expect(backend.load(spec)).rejects.toThrow(/openvino-genai-node cannot be loaded/)
  })
})

describe.skipIf(!loads || !haveModel)('OpenvinoGenaiBackend on the real runtime', () => {
  const spec = (device: string): GeneratorLoadSpec => ({
    name: 'real',
    version: '1',
    modelPath: join(modelDir, 'openvino_model.xml'),
    modelDir,
    device,
    section: GenerationSectionSchema.parse({ max_prompt_len: 256, min_response_len: 128 }),
    threads: 4,
    stepTimeoutMs: 120_000,
    loadTimeoutMs: 600_000,
    cacheDir: join(modelDir, '.cache'),
  })
  const onnx = generationOnnxPath(join(modelDir, 'openvino_model.xml'))
  const reference = onnx
    ? async (prompt: string, maxTokens: number) => {
        const engine = await new OnnxGenerationBackend({ threadEntry: GENERATION_THREAD_ENTRY }).load({
          ...spec('CPU'),
          modelPath: onnx,
        })
        try {
          return (await engine.generate({ kind: 'completion', prompt }, { max_tokens: maxTokens })).text
        } finally {
          await engine.unload()
        }
      }
    : null
  describeGenaiContract('OpenVINO GenAI (real runtime) on CPU', {
    backend: () => new OpenvinoGenaiBackend(),
    spec: spec('CPU'),
    reference,
    overlongPrompt: null,
  })
  describe.skipIf(!probe?.devices.includes('NPU'))('on the NPU', () => {
    describeGenaiContract('OpenVINO GenAI (real runtime) on NPU', {
      backend: () => new OpenvinoGenaiBackend(),
      spec: spec('NPU'),
      // FP16 greedy answers may leave the FP32 reference at a near-tie: the NPU is held to determinism instead.
      reference: null,
      overlongPrompt: 'The workers of the fleet answer every request. '.repeat(40),
    })
  })
})
