import { z } from 'zod'
import { BackendNameSchema } from './health.js'

// The JSON report of `npu-worker doctor --json`: what a host offers the worker (NPU device nodes, driver,
// OpenVINO runtime) and whether each configured model compiles on its preferred device and answers its golden
// input within that device's tolerance. The deploy role prints it and fails a deploy on `exit_code` 1. Extend
// additively: fields are never renamed or retyped.

/** Version of this report shape; bumped only on a breaking change. */
export const DOCTOR_REPORT_VERSION = 1

/** Outcome of one check: `fail` makes the host not ready (exit 1); `warn` is worth reading but not fatal. */
export const DoctorStatusSchema = z.enum(['ok', 'warn', 'fail', 'skip'])
/** Outcome of one check. */
export type DoctorStatus = z.infer<typeof DoctorStatusSchema>

/** One line of the doctor's table. */
export const DoctorCheckSchema = z.object({
  /** Stable identifier, e.g. `device.accel`, `openvino.load`, `model.mlp:1`. */
  id: z.string(),
  status: DoctorStatusSchema,
  /** One plain-text sentence: what was found, or why it failed. */
  detail: z.string(),
})
/** One line of the doctor's table. */
export type DoctorCheck = z.infer<typeof DoctorCheckSchema>

/** One `/dev/accel/accel*` node. */
export const AccelNodeSchema = z.object({
  path: z.string(),
  /** Opened read-write by the current user (what the NPU driver needs). */
  openable: z.boolean(),
  /** Why it could not be opened (`EACCES: ...`), or null. */
  error: z.string().nullable(),
  /** Permission bits as octal text, e.g. `0660`. */
  mode: z.string(),
  /** Group owning the node, by name when /etc/group knows it, else the numeric id. */
  group: z.string(),
})
/** One `/dev/accel/accel*` node. */
export type AccelNode = z.infer<typeof AccelNodeSchema>

/** The user the doctor ran as, and its groups (the worker's service user should be in `render`). */
export const DoctorUserSchema = z.object({
  name: z.string(),
  uid: z.number().int(),
  groups: z.array(z.string()),
  in_render_group: z.boolean(),
})
/** The user the doctor ran as. */
export type DoctorUser = z.infer<typeof DoctorUserSchema>

/** Kernel driver and firmware as sysfs and /lib/firmware show them (null where they show nothing). */
export const DoctorDriverSchema = z.object({
  kernel: z.string(),
  /** `intel_vpu` is loaded (`/sys/module/intel_vpu` exists). */
  module_loaded: z.boolean(),
  /** `/sys/module/intel_vpu/version`; in-tree builds often have none. */
  module_version: z.string().nullable(),
  /** `/sys/module/intel_vpu/srcversion`. */
  module_srcversion: z.string().nullable(),
  /** NPU firmware files found under the firmware folder (`intel/vpu/*`). */
  firmware_files: z.array(z.string()),
})
/** Kernel driver and firmware. */
export type DoctorDriver = z.infer<typeof DoctorDriverSchema>

/** What the doctor found of the OpenVINO runtime. */
export const DoctorOpenvinoSchema = z.object({
  loaded: z.boolean(),
  /** `getOpenvinoVersion().buildNumber`, or null. */
  version: z.string().nullable(),
  /** Why it could not be loaded or probed, or null. */
  error: z.string().nullable(),
  /** `core.getAvailableDevices()`. */
  devices: z.array(z.string()),
  /** NPU properties read with `core.getProperty('NPU', name)`; a property the plugin refused is absent. */
  npu_properties: z.record(z.string(), z.string()),
})
/** What the doctor found of the OpenVINO runtime. */
export type DoctorOpenvino = z.infer<typeof DoctorOpenvinoSchema>

/** One output of a golden-input comparison. */
export const DoctorOutputComparisonSchema = z.object({
  name: z.string(),
  elements: z.number().int().nonnegative(),
  mismatches: z.number().int().nonnegative(),
  /** Largest |device - reference|; null when it is not finite (NaN, a length mismatch). */
  max_abs_error: z.number().nullable(),
})
/** One output of a golden-input comparison. */
export type DoctorOutputComparison = z.infer<typeof DoctorOutputComparisonSchema>

/** One model version checked on its preferred device. */
export const DoctorModelSchema = z.object({
  name: z.string(),
  version: z.string(),
  preferred_device: z.string(),
  status: DoctorStatusSchema,
  /** Where the golden input ran (the preferred device, or the fallback the worker would use), or null. */
  backend: BackendNameSchema.nullable(),
  device: z.string().nullable(),
  /** Precision the device computed in (FP32 / FP16 / BF16), or null. */
  precision: z.string().nullable(),
  /** First compile into an empty CACHE_DIR, and the second from it; null when not compiled on OpenVINO. */
  compile_cold_ms: z.number().nonnegative().nullable(),
  compile_warm_ms: z.number().nonnegative().nullable(),
  /** Files the cold compile left in CACHE_DIR (0: the device did not cache it). */
  cache_files: z.number().int().nonnegative().nullable(),
  /** Tolerance applied, from the device's precision. */
  tolerance: z.object({ atol: z.number(), rtol: z.number() }).nullable(),
  /** Comparison with ONNX Runtime on the CPU, per output; empty when nothing was compared. */
  outputs: z.array(DoctorOutputComparisonSchema),
  detail: z.string(),
})
/** One model version checked by the doctor. */
export type DoctorModel = z.infer<typeof DoctorModelSchema>

/** `npu-worker doctor --json`. */
export const DoctorReportSchema = z.object({
  doctor_report_version: z.literal(DOCTOR_REPORT_VERSION),
  worker_version: z.string(),
  /** ISO 8601 time the report was made. */
  generated_at: z.string(),
  hostname: z.string(),
  /** `--require-npu` was given: no usable NPU is then a failure, not a warning. */
  require_npu: z.boolean(),
  /** True when nothing failed (exit code 0). */
  ready: z.boolean(),
  exit_code: z.union([z.literal(0), z.literal(1)]),
  user: DoctorUserSchema,
  accel_nodes: z.array(AccelNodeSchema),
  driver: DoctorDriverSchema,
  openvino: DoctorOpenvinoSchema,
  models: z.array(DoctorModelSchema),
  /** Every line of the table, in order. */
  checks: z.array(DoctorCheckSchema),
  /** The reason for each failure, one per line (empty when ready). */
  problems: z.array(z.string()),
})
/** `npu-worker doctor --json`. */
export type DoctorReport = z.infer<typeof DoctorReportSchema>
