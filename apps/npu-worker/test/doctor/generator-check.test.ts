// `npu-worker doctor` on language models: checked through the path the worker serves them on, never as tensor
// models with a meaningless golden input. With OpenVINO GenAI (the fake) on an NPU: the pipeline compiled cold and
// warm from CACHE_DIR and a greedy generation compared with the ONNX Runtime engine's; without GenAI (this
// machine's real package): the ONNX Runtime engine must generate, which is the worker's fallback.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DoctorReportSchema } from '@npu-fleet/protocol'
import { afterAll, describe, expect, it } from 'vitest'
import { resolveWorkerConfig } from '../../src/config.js'
import { runDoctor } from '../../src/doctor/run-doctor.js'
import { OpenvinoGenaiBackend } from '../../src/generation/openvino-genai-backend.js'
import { createFakeOpenvinoGenai } from '../../src/testing/fake-openvino-genai.js'
import { makeLanguageModelRepository } from '../helpers/language-model-repository.js'
import { DIST_THREAD_ENTRIES } from '../helpers/thread-entries.js'
import { WORKER_ROOT } from '../helpers/worker-process.js'

const CHILD_ENTRY = join(WORKER_ROOT, 'dist', 'doctor', 'openvino-child.js')
const scratch = mkdtempSync(join(tmpdir(), 'doctor-llm-'))
const repo = makeLanguageModelRepository({
  build: {
    'tiny-llama-npu': { irStub: true, manifest: 'devices: [NPU, CPU]\ngeneration: { max_prompt_len: 64 }\n' },
  },
})
afterAll(() => {
  repo.cleanup()
  rmSync(scratch, { recursive: true, force: true })
})

/** A host tree with an NPU node the user can open (the rest of the doctor's NPU checks pass on it). */
function npuHost() {
  const root = mkdtempSync(join(scratch, 'host-'))
  mkdirSync(join(root, 'dev', 'accel'), { recursive: true })
  writeFileSync(join(root, 'dev', 'accel', 'accel0'), '')
  writeFileSync(join(root, 'group'), `render:x:${process.getgid?.() ?? 0}:\n`)
  mkdirSync(join(root, 'sys', 'module', 'intel_vpu'), { recursive: true })
  mkdirSync(join(root, 'firmware', 'intel', 'vpu'), { recursive: true })
  writeFileSync(join(root, 'firmware', 'intel', 'vpu', 'vpu_37xx_v1.bin'), 'fw')
  return {
    accelPaths: { accelDir: join(root, 'dev', 'accel'), groupFile: join(root, 'group') },
    driverPaths: { sysModuleDir: join(root, 'sys', 'module'), firmwareDirs: [join(root, 'firmware')] },
  }
}

const config = () => resolveWorkerConfig({ models_dir: repo.dir, cache_dir: join(scratch, 'cache') })

describe('doctor on a language model', () => {
  it("with GenAI on the NPU: compiled cold and warm, its greedy answer equal to the ONNX Runtime engine's", async () => {
    const fake = createFakeOpenvinoGenai({
      devices: ['CPU', 'NPU'],
      generationThreadEntry: DIST_THREAD_ENTRIES.generation,
    })
    const genai = new OpenvinoGenaiBackend({
      loadRuntime: async () => ({ runtime: fake.runtime, error: null }),
      listDevices: () => ['CPU', 'NPU'],
    })
    const report = DoctorReportSchema.parse(
      await runDoctor({
        config: config(),
        requireNpu: true,
        openvino: { kind: 'fake', options: { devices: ['CPU', 'NPU'] } },
        childEntry: CHILD_ENTRY,
        genai,
        ...npuHost(),
      }),
    )
    await fake.close()
    const [model] = report.models
    expect(model).toMatchObject({
      name: 'tiny-llama-npu',
      status: 'ok',
      backend: 'openvino',
      device: 'NPU',
      precision: 'FP16',
      cache_files: 1,
    })
    expect(model?.compile_cold_ms).toBeGreaterThan(0)
    expect(model?.detail).toMatch(
      /^greedy answer equals the reference .*compared with the ONNX Runtime engine/,
    )
    // NPU properties reached the pipeline, as in the worker.
    expect(
      fake.record.pipelines.some((p) => p.device === 'NPU' && p.properties.MAX_PROMPT_LEN === '64'),
    ).toBe(true)
    expect(report.problems).toEqual([])
  })

  it('without GenAI: the ONNX Runtime engine generates (a fallback: fails when the NPU is required)', async () => {
    const run = (requireNpu: boolean) =>
      runDoctor({
        config: config(),
        requireNpu,
        openvino: { kind: 'openvino-node' },
        childEntry: CHILD_ENTRY,
        probeLimitMs: 30_000,
      })
    const report = DoctorReportSchema.parse(await run(false))
    const [model] = report.models
    expect(model).toMatchObject({ status: 'warn', backend: 'onnxruntime', device: 'CPU', precision: 'FP32' })
    expect(model?.detail).toMatch(
      /^OpenVINO GenAI unavailable \(openvino-genai-node cannot be loaded: .*\), so not on OpenVINO GenAI\/NPU; generates on the ONNX Runtime engine on the CPU \(fallback\): greedy answer "/,
    )
    const required = DoctorReportSchema.parse(await run(true))
    expect(required.models[0]?.status).toBe('fail')
    expect(
      required.problems.some((p) => p.startsWith('model.tiny-llama-npu:1: OpenVINO GenAI unavailable')),
    ).toBe(true)
  })
})
