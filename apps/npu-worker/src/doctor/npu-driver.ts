import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { release } from 'node:os'
import { join } from 'node:path'
import type { DoctorDriver } from '@npu-fleet/protocol'

/** Where the doctor reads driver facts; tests point these at folders they create. */
export interface DriverPaths {
  /** `/sys/module`: a loaded module has a folder here. */
  sysModuleDir: string
  /** Firmware search roots of the kernel, in its order. */
  firmwareDirs: string[]
}

/** The paths of a real host (the kernel also searches `/lib/firmware/updates` first). */
export const HOST_DRIVER_PATHS: DriverPaths = {
  sysModuleDir: '/sys/module',
  firmwareDirs: ['/lib/firmware/updates', '/lib/firmware'],
}

/** The kernel module of the Intel NPU (drivers/accel/ivpu). */
export const NPU_KERNEL_MODULE = 'intel_vpu'

function readTrimmed(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim() || null
  } catch {
    return null
  }
}

/** Kernel release, intel_vpu module version as sysfs shows it, and the NPU firmware files present. */
export function checkNpuDriver(paths: DriverPaths = HOST_DRIVER_PATHS): DoctorDriver {
  const moduleDir = join(paths.sysModuleDir, NPU_KERNEL_MODULE)
  const firmware: string[] = []
  for (const root of paths.firmwareDirs) {
    const dir = join(root, 'intel', 'vpu')
    try {
      for (const file of readdirSync(dir).sort()) firmware.push(join(dir, file))
    } catch {
      // No NPU firmware under this root.
    }
  }
  return {
    kernel: release(),
    module_loaded: existsSync(moduleDir),
    module_version: readTrimmed(join(moduleDir, 'version')),
    module_srcversion: readTrimmed(join(moduleDir, 'srcversion')),
    firmware_files: firmware,
  }
}
