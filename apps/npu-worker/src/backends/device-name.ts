// One rule for device names, shared by the registry (is the device a manifest asks for present?), the OpenVINO
// backend (may it compile there?) and /health (which device ranks first).

/**
 * True when `listed`, a device as a runtime enumerates it (`NPU`, `GPU.0`, `GPU.1`), is what `wanted` names:
 * `GPU` names every GPU, `GPU.1` only that one.
 */
export function deviceMatches(listed: string, wanted: string): boolean {
  return listed === wanted || listed.startsWith(`${wanted}.`)
}

/** True when some device of `listed` is what `wanted` names (see {@link deviceMatches}). */
export function hasDevice(listed: readonly string[], wanted: string): boolean {
  return listed.some((device) => deviceMatches(device, wanted))
}

/** The device's family: `GPU.1` is a `GPU`. */
export function deviceFamily(device: string): string {
  return device.split('.')[0] ?? device
}
