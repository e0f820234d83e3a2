import { z } from 'zod'

// `test_hooks`: everything test-only the worker can do, as one typed config object. Off by default (null) and
// logged loudly when on. What it switches on is composed in app.ts and lives under src/testing/; no production
// code path reads it.

const count = (min: number, max: number) => {
  const error = `expected integer ${min}..${max}`
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error })
}

/**
 * Which of a model's inferences a fault hits, counted as the runtime receives them (self-tests included): the
 * first `after` pass, the next `count` are hit (null: every one after).
 */
export const FaultTriggerSchema = z
  .object({
    after: count(0, 1_000_000_000).default(0),
    count: count(1, 1_000_000_000).nullable().default(null),
  })
  .strict()
/** When a fault strikes. */
export type FaultTrigger = z.infer<typeof FaultTriggerSchema>

/** Faults injected into one model (by model name). */
export const ModelFaultsSchema = z
  .object({
    /**
     * The native inference never returns: on the fake OpenVINO runtime its request is lost (as the real addon
     * loses a failure inside a started request); on ONNX Runtime the thread runs a real native hang (an ONNX
     * Loop that takes minutes), which only the hard limit ends. Language models: on the fake OpenVINO GenAI the
     * generation after the first `after` never answers; in the ONNX Runtime engine's thread, step `after + 1` of
     * each thread blocks as a native call that never returns would.
     */
    hang: FaultTriggerSchema.optional(),
    /** The ONNX Runtime thread running the inference dies in the middle of it (language models: at step `after + 1`). */
    crash_thread: FaultTriggerSchema.optional(),
    /**
     * ONNX Runtime thread starts (the load's included) that fail, e.g. `{after: 2, count: 3}` for respawns;
     * language models on the fake OpenVINO GenAI: pipeline creations that fail.
     */
    fail_thread_starts: FaultTriggerSchema.optional(),
    /** The device returns wrong numbers: every floating-point output element gets `offset` added. */
    drift: FaultTriggerSchema.extend({ offset: z.number().default(0.5) }).optional(),
  })
  .strict()
/** Faults of one model. */
export type ModelFaults = z.infer<typeof ModelFaultsSchema>

const hooksShape = {
  /** `POST /_test/freeze {ms}`: blocks the event loop (watchdog tests). */
  freeze_route: z.boolean({ error: 'expected true or false' }),
  /** Delay between listen and model loading, so tests can watch `starting`. */
  load_delay_ms: count(0, 600_000),
  /** Serve OpenVINO from src/testing/fake-openvino.ts with these devices (e.g. `[NPU, CPU]`); null: the real addon. */
  fake_openvino: z
    .object({ devices: z.array(z.string().min(1)).min(1) }, { error: 'expected a mapping' })
    .strict()
    .nullable(),
  /**
   * Serve OpenVINO GenAI from src/testing/fake-openvino-genai.ts with these devices (its answers come from the ONNX
   * Runtime engine); null: the real openvino-genai-node.
   */
  fake_openvino_genai: z
    .object({ devices: z.array(z.string().min(1)).min(1) }, { error: 'expected a mapping' })
    .strict()
    .nullable(),
  /** Faults per model name. */
  faults: z.record(z.string().min(1), ModelFaultsSchema, { error: 'expected a mapping of model names' }),
}

/** The resolved test hooks, every default applied. */
export const TestHooksSchema = z
  .object({
    freeze_route: hooksShape.freeze_route.default(true),
    load_delay_ms: hooksShape.load_delay_ms.default(0),
    fake_openvino: hooksShape.fake_openvino.default(null),
    fake_openvino_genai: hooksShape.fake_openvino_genai.default(null),
    faults: hooksShape.faults.default({}),
  })
  .strict()
/** Test hooks, when on. */
export type TestHooks = z.infer<typeof TestHooksSchema>

/**
 * `test_hooks` in one configuration layer: `true`/`false`, or a mapping. A mapping written by an operator turns
 * the hooks on (`enabled` defaults to true there); one built from a single setting (the
 * `NPU_WORKER_TEST_LOAD_DELAY_MS` variable) carries no `enabled` and changes only that setting.
 */
export const TestHooksLayerSchema = z.union(
  [
    z.boolean(),
    z
      .object({ enabled: z.boolean({ error: 'expected true or false' }), ...hooksShape })
      .partial()
      .strict(),
  ],
  { error: 'expected true, false or a mapping' },
)
/** `test_hooks` in one layer. */
export type TestHooksLayer = z.infer<typeof TestHooksLayerSchema>

/** An operator-written mapping means "on" unless it says otherwise. */
export function enabledByDefault(layer: TestHooksLayer | undefined): TestHooksLayer | undefined {
  return layer !== undefined && typeof layer === 'object' ? { enabled: true, ...layer } : layer
}

/** Merges a later layer over an earlier one: a boolean switches, a mapping adds settings. */
export function mergeTestHooks(
  earlier: TestHooksLayer | undefined,
  later: TestHooksLayer | undefined,
): TestHooksLayer | undefined {
  if (later === undefined) return earlier
  const base = typeof earlier === 'object' ? earlier : earlier === undefined ? {} : { enabled: earlier }
  if (typeof later === 'boolean') return { ...base, enabled: later }
  return { ...base, ...later, faults: { ...base.faults, ...later.faults } }
}

/** The hooks the merged layers ask for, with defaults; null when they are off. */
export function resolveTestHooks(layer: TestHooksLayer | undefined): TestHooks | null {
  if (layer === undefined || layer === false) return null
  if (layer === true) return TestHooksSchema.parse({})
  const { enabled, ...settings } = layer
  return enabled === true ? TestHooksSchema.parse(settings) : null
}
