import type {
  BackendProbe,
  InferenceBackend,
  LoadedModel,
  ModelCondition,
  ModelLoadSpec,
} from '../../src/backends/backend.js'
import type { Tensor } from '../../src/backends/tensor.js'

/**
 * A LoadedModel for logic tests (registry, states, queues): `y = x * scale` on FP32 [8] inputs, with a condition
 * the test sets and an unload the test can hold. The numbers are computed, never canned, so a reference taken
 * from one instance and compared with another is a real comparison.
 */
export class ScriptedModel implements LoadedModel {
  readonly inputs = [{ name: 'x', datatype: 'FP32' as const, shape: [8] }]
  readonly outputs = [{ name: 'y', datatype: 'FP32' as const, shape: [8] }]
  readonly compiledBatchSizes = null
  scale: number
  infers = 0
  unloaded = false
  /** Set to a promise to hold `unload` (e.g. one that never settles). */
  unloadGate: Promise<void> | null = null
  #condition: ModelCondition = { kind: 'serving' }
  #listener: ((condition: ModelCondition) => void) | null = null

  constructor(
    readonly backend: LoadedModel['backend'],
    readonly device: string,
    readonly parallelism = 2,
    readonly precision: LoadedModel['precision'] = 'FP32',
    scale = 2,
  ) {
    this.scale = scale
  }

  condition(): ModelCondition {
    return this.#condition
  }
  onConditionChange(listener: (condition: ModelCondition) => void): void {
    this.#listener = listener
  }
  /** What the backend would report: the registry hears it through onConditionChange. */
  setCondition(condition: ModelCondition): void {
    this.#condition = condition
    this.#listener?.(condition)
  }

  async infer(inputs: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>> {
    this.infers++
    const x = inputs.x
    if (!x) throw new Error('missing input "x"')
    const data = Float32Array.from(x.data as Float32Array, (v) => v * this.scale)
    return { y: { datatype: 'FP32', shape: [...x.shape], data } }
  }

  async unload(): Promise<void> {
    if (this.unloadGate) await this.unloadGate
    this.unloaded = true
  }
}

/** A backend handing out ScriptedModels, with the devices it lists and the loads it saw. */
export class ScriptedBackend implements InferenceBackend {
  readonly loads: ModelLoadSpec[] = []
  readonly models: ScriptedModel[] = []
  /** Devices whose load fails, with the message. */
  readonly failOn = new Map<string, string>()
  /** Scale of the next models (a wrong scale is a device that computes wrong numbers). */
  scale = 2

  constructor(
    readonly name: InferenceBackend['name'],
    readonly devices: string[],
    readonly precision: LoadedModel['precision'] = 'FP32',
  ) {}

  async probe(): Promise<BackendProbe> {
    return { available: true, version: 'scripted', devices: [...this.devices], error: null }
  }

  async load(spec: ModelLoadSpec): Promise<LoadedModel> {
    this.loads.push(spec)
    const failure = this.failOn.get(spec.device)
    if (failure) throw new Error(failure)
    const model = new ScriptedModel(this.name, spec.device, spec.instances, this.precision, this.scale)
    this.models.push(model)
    return model
  }

  async close(): Promise<void> {}
}
