import { ErrBadModelName, ErrModelNotFound, ErrVersionNotFound } from '../errors.js'
import type { ModelRegistry } from '../models/model-registry.js'
import { isValidModelName } from '../models/model-repository.js'
import type { RegisteredModel } from '../models/registered-model.js'

/** A model name and optional version, as a route or an RPC names them. */
export interface ModelRef {
  name: string
  /** Absent (or, on gRPC, empty): the version the registry serves by default. */
  version?: string | undefined
}

/** Finds a model version, or throws the 400/404 the protocol asks for. */
export function findModel(registry: ModelRegistry, { name, version }: ModelRef): RegisteredModel {
  if (!isValidModelName(name)) throw new ErrBadModelName(JSON.stringify(name))
  if (version !== undefined && !/^[1-9][0-9]{0,8}$/.test(version))
    throw new ErrBadModelName(JSON.stringify(version))
  if (registry.versions(name).length === 0) throw new ErrModelNotFound(name)
  const model = registry.resolve(name, version)
  if (!model) throw new ErrVersionNotFound(name, version)
  return model
}
