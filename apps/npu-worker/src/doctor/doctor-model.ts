import type { DoctorModel } from '@npu-fleet/protocol'
import type { ModelVersionSpec } from '../models/model-repository.js'

/** A model's doctor row before any check ran: `ok`, nothing found yet; each check fills in what it learns. */
export function doctorModelOf(spec: ModelVersionSpec, preferredDevice: string): DoctorModel {
  return {
    name: spec.name,
    version: spec.version,
    preferred_device: preferredDevice,
    status: 'ok',
    backend: null,
    device: null,
    precision: null,
    compile_cold_ms: null,
    compile_warm_ms: null,
    cache_files: null,
    tolerance: null,
    outputs: [],
    detail: '',
  }
}
