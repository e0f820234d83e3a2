import type {
  OpenvinoRuntime,
  OvAsyncInferQueue,
  OvCompiledModel,
  OvModel,
  OvQueueCallback,
  OvTensor,
} from '../backends/openvino-runtime.js'
import { type SharedFault, strikes } from './fault-counter.js'
import type { FaultPlan } from './fault-plan.js'

/** The hang of a native request that is never answered, as the real addon loses a failure inside one. */
const never = () => new Promise<object>(() => {})

/**
 * `runtime` (the fake of src/testing/fake-openvino.ts) with the plan's `hang` faults injected into its request
 * queues. Queues are told apart by the model file they were compiled from: `modelOfPath` maps that path to the
 * model's name (filled by {@link namingModels} as the backend loads each model).
 */
export function withHangingRequests(
  runtime: OpenvinoRuntime,
  plan: FaultPlan,
  modelOfPath: ReadonlyMap<string, string>,
): OpenvinoRuntime {
  const nameOf = new WeakMap<object, string>()
  // The fake's own Core, learning which compiled model belongs to which model name on the way.
  class Core extends runtime.Core {
    override async readModel(modelPath: string): Promise<OvModel> {
      const model = await super.readModel(modelPath)
      const name = modelOfPath.get(modelPath)
      if (name) nameOf.set(model, name)
      return model
    }
    override async compileModel(
      model: OvModel,
      device: string,
      config: Record<string, string>,
    ): Promise<OvCompiledModel> {
      const compiled = await super.compileModel(model, device, config)
      const name = nameOf.get(model)
      if (name) nameOf.set(compiled, name)
      return compiled
    }
  }
  /**
   * A queue whose requests hang when the fault strikes: the request is never started and its callback never
   * runs, and it keeps its slot, so once every request of the queue hangs, everything after it waits behind
   * them for good, exactly as on a wedged device. Only recycling the queue (a new one) gets past it.
   */
  class AsyncInferQueue implements OvAsyncInferQueue {
    readonly #inner: OvAsyncInferQueue
    readonly #jobs: number
    readonly #hang: SharedFault | undefined
    #stuck = 0

    constructor(compiled: OvCompiledModel, jobs: number) {
      this.#inner = new runtime.AsyncInferQueue(compiled, jobs)
      this.#jobs = jobs
      const name = nameOf.get(compiled)
      this.#hang = name ? plan[name]?.hang : undefined
    }

    setCallback(callback: OvQueueCallback): void {
      this.#inner.setCallback(callback)
    }

    startAsync(inputData: Record<string, OvTensor> | OvTensor[], userData: object): Promise<object> {
      if (this.#stuck >= this.#jobs) return never()
      if (strikes(this.#hang)) {
        this.#stuck++
        return never()
      }
      return this.#inner.startAsync(inputData, userData)
    }

    release(): void {
      this.#inner.release()
    }
  }
  // Everything else is the fake's own (whatever members the runtime type gains).
  return { ...runtime, Core, AsyncInferQueue, getOpenvinoVersion: () => runtime.getOpenvinoVersion() }
}
