import type { LoadedModel } from '../../src/backends/backend.js'
import { batchingPolicy } from '../../src/models/batching-policy.js'
import type { RegisteredModel } from '../../src/models/registered-model.js'

/** Puts `model` into service on `registered`, as the registry does after a load whose self-test had no reference. */
export function serveModel(registered: RegisteredModel, model: LoadedModel): RegisteredModel {
  registered.serve(
    { model, batching: batchingPolicy(registered.manifest, model), golden: null },
    {
      result: 'no_reference',
      at: Date.now(),
      reference: null,
      precision: model.precision,
      tolerance: null,
      maxAbsError: null,
      mismatches: null,
      elements: null,
      durationMs: null,
      message: 'served by a test',
    },
  )
  return registered
}
