/**
 * True when `wanted` (a manifest device: `NPU`, `GPU`, `CPU`) is among the devices a runtime lists. OpenVINO
 * enumerates several devices of one kind as `GPU.0`, `GPU.1`: the family name then means the first of them,
 * as OpenVINO itself resolves it. The one rule for the registry's skip check and the backend's device check.
 */
export function isDeviceListed(available: readonly string[], wanted: string): boolean {
  return available.some((d) => d === wanted || d.startsWith(`${wanted}.`))
}
