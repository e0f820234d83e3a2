import { existsSync, readdirSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { join } from 'node:path'
import type { DoctorModel } from '@npu-fleet/protocol'
import { isDeviceListed } from '../backends/device-name.js'
import type { GenerationBackend, GeneratorLoadSpec } from '../generation/generation-backend.js'
import { generationOnnxPath } from '../generation/generation-files.js'
import type { GenerationSection } from '../generation/generation-manifest.js'
import type { TextGenerator } from '../generation/text-generator.js'
import { type GeneratorGolden, goldenText, runGeneratorSelfTest } from '../models/generator-self-test.js'
import type { ModelDefaults } from '../models/model-load-spec.js'
import type { ModelVersionSpec } from '../models/model-repository.js'
import { doctorModelOf } from './doctor-model.js'

/** What checking a language model needs. */
export interface GeneratorCheckContext {
  /** OpenVINO GenAI (the real package, or a test fake). */
  genai: GenerationBackend
  /** The worker's ONNX Runtime engine: the reference, and the fallback. */
  onnxruntime: GenerationBackend
  defaults: ModelDefaults
  requireNpu: boolean
  /** Limit of one pipeline compile. */
  compileLimitMs: number
  /** Where the cold-compile CACHE_DIRs are made. */
  scratchDir: string
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Files in a folder (0 when it does not exist). */
function countFiles(dir: string): number {
  return existsSync(dir) ? readdirSync(dir).length : 0
}

/**
 * Checks one language model through the path the worker serves it on: OpenVINO GenAI on its preferred device,
 * compiled cold into an empty CACHE_DIR and again warm from it (both timed), then a greedy generation of the
 * golden prompt compared with the ONNX Runtime engine's answer on the CPU (the self-test's rule: equal on FP32,
 * agreeing on at least the first half on FP16). Without GenAI or the device, the ONNX Runtime engine (the
 * worker's fallback) must generate. The pipeline runs in-process: its calls are asynchronous and every one has a
 * time limit past which it is abandoned (the process exits after the report anyway).
 */
export async function checkGenerator(
  spec: ModelVersionSpec,
  ctx: GeneratorCheckContext,
): Promise<DoctorModel> {
  const section = spec.manifest.generation as GenerationSection
  const preferred = spec.manifest.devices[0] ?? 'NPU'
  const required = ctx.requireNpu && preferred === 'NPU'
  const stepTimeoutMs =
    section.step_timeout_ms ?? spec.manifest.inference_timeout_ms ?? ctx.defaults.inferTimeoutMs
  const loadSpec = (device: string, cacheDir: string | null): GeneratorLoadSpec => ({
    name: spec.name,
    version: spec.version,
    modelPath: spec.modelPath,
    modelDir: spec.modelDir,
    device,
    section: { ...section, max_sequences: 1 },
    threads: spec.manifest.threads ?? ctx.defaults.threads,
    stepTimeoutMs,
    loadTimeoutMs: ctx.compileLimitMs,
    cacheDir,
  })
  const limit = stepTimeoutMs * 2 + 5_000
  const base = doctorModelOf(spec, preferred)

  /** The worker's last resort: the ONNX Runtime engine on the CPU must generate. */
  const fallback = async (why: string): Promise<DoctorModel> => {
    let engine: TextGenerator | null = null
    try {
      engine = await ctx.onnxruntime.load(loadSpec('CPU', null))
      const text = await goldenText(engine, limit)
      return {
        ...base,
        status: required ? 'fail' : 'warn',
        backend: 'onnxruntime',
        device: 'CPU',
        precision: 'FP32',
        detail: `${why}; generates on the ONNX Runtime engine on the CPU (fallback): greedy answer ${JSON.stringify(text)}`,
      }
    } catch (err) {
      return {
        ...base,
        status: 'fail',
        detail: `${why}; the ONNX Runtime engine fails too: ${messageOf(err)}`,
      }
    } finally {
      await engine?.unload()
    }
  }

  const probe = await ctx.genai.probe()
  if (!probe.available)
    return fallback(`OpenVINO GenAI unavailable (${probe.error}), so not on OpenVINO GenAI/${preferred}`)
  if (!isDeviceListed(probe.devices, preferred)) {
    return fallback(`${preferred} not listed by OpenVINO (devices: ${probe.devices.join(', ') || 'none'})`)
  }
  const cannot = ctx.genai.cannotLoad(loadSpec(preferred, null))
  if (cannot) return fallback(cannot)

  const cacheDir = await mkdtemp(join(ctx.scratchDir, `${spec.name}-genai-cache-`))
  let cold: TextGenerator | null = null
  let warm: TextGenerator | null = null
  try {
    let started = performance.now()
    cold = await ctx.genai.load(loadSpec(preferred, cacheDir))
    const coldMs = performance.now() - started
    const cacheFiles = countFiles(cacheDir)
    await cold.unload()
    started = performance.now()
    warm = await ctx.genai.load(loadSpec(preferred, cacheDir))
    const warmMs = performance.now() - started
    const timing = `pipeline ${Math.round(coldMs)} ms cold, ${Math.round(warmMs)} ms warm (${cacheFiles} file(s) in CACHE_DIR)`
    const compiled: DoctorModel = {
      ...base,
      backend: 'openvino',
      device: warm.device,
      precision: warm.precision,
      compile_cold_ms: coldMs,
      compile_warm_ms: warmMs,
      cache_files: cacheFiles,
    }
    const golden = await reference(spec, ctx, loadSpec('CPU', null), limit)
    const record = await runGeneratorSelfTest(warm, golden, limit)
    const uncached = cacheFiles === 0 ? ': nothing cached, every start recompiles' : ''
    switch (record.result) {
      case 'pass':
        return {
          ...compiled,
          status: cacheFiles === 0 ? 'warn' : 'ok',
          detail: `${record.message}; ${timing}${uncached}`,
        }
      case 'no_reference':
        return { ...compiled, status: 'warn', detail: `${record.message}; ${timing}` }
      default:
        return {
          ...compiled,
          status: 'fail',
          detail: `wrong answer on ${warm.device}: ${record.message}; ${timing}`,
        }
    }
  } catch (err) {
    return fallback(`OpenVINO GenAI on ${preferred} failed: ${messageOf(err)}`)
  } finally {
    await Promise.all([cold?.unload(), warm?.unload()])
  }
}

/** The ONNX Runtime engine's greedy answer to the golden prompt, or why there is none. */
async function reference(
  spec: ModelVersionSpec,
  ctx: GeneratorCheckContext,
  cpu: GeneratorLoadSpec,
  limit: number,
): Promise<GeneratorGolden> {
  if (!generationOnnxPath(spec.modelPath)) {
    return {
      expected: null,
      reference: null,
      note: 'no ONNX decoder beside the IR to compare with',
      fromServedModel: false,
    }
  }
  const engine = await ctx.onnxruntime.load(cpu)
  try {
    return {
      expected: await goldenText(engine, limit),
      reference: 'onnxruntime_cpu',
      note: 'compared with the ONNX Runtime engine on the CPU',
      fromServedModel: false,
    }
  } finally {
    await engine.unload()
  }
}
