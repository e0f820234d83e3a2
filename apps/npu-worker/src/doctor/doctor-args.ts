import { parseArgs } from 'node:util'

/** Usage of `npu-worker doctor`. */
export const DOCTOR_USAGE = `usage: npu-worker doctor [--json] [--require-npu] [--config FILE] [--models-dir DIR] [--cache-dir DIR]

Checks this host for the worker: NPU device nodes and access, kernel driver and firmware, the OpenVINO
runtime and its devices, and every configured model (compile on its preferred device, cold then warm from
CACHE_DIR, and its golden input against ONNX Runtime on the CPU within the device's tolerance).

  --json          print the report as JSON (schema: DoctorReportSchema in @npu-fleet/protocol)
  --require-npu   a missing or unusable NPU fails (exit 1) instead of warning
  --config FILE   worker config file (also NPU_WORKER_CONFIG); env NPU_WORKER_* apply as for the server
  --models-dir    model repository to check (default: the configured one)
  --cache-dir     OpenVINO cache folder to check for writing (default: the configured one)

Exit codes: 0 ready; 1 a required device or model is not usable (reasons on stderr, one per line);
2 bad arguments or configuration.`

/** A bad command line (exit 2). */
export class DoctorUsageError extends Error {
  override name = 'DoctorUsageError'
}

/** What the command line asks for. */
export interface DoctorArgs {
  json: boolean
  requireNpu: boolean
  help: boolean
  /** The flags the worker's own config loader reads (`--config`, `--models-dir`, `--cache-dir`). */
  workerArgv: string[]
}

/** Parses the arguments after `doctor`; throws {@link DoctorUsageError}. */
export function parseDoctorArgs(argv: readonly string[]): DoctorArgs {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        json: { type: 'boolean', default: false },
        'require-npu': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        config: { type: 'string' },
        'models-dir': { type: 'string' },
        'cache-dir': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    })
    const workerArgv: string[] = []
    for (const flag of ['config', 'models-dir', 'cache-dir'] as const) {
      const value = values[flag]
      if (value !== undefined) workerArgv.push(`--${flag}`, value)
    }
    return {
      json: values.json === true,
      requireNpu: values['require-npu'] === true,
      help: values.help === true,
      workerArgv,
    }
  } catch (error) {
    throw new DoctorUsageError((error as Error).message.replace(/\s*\n\s*/g, ' '))
  }
}
