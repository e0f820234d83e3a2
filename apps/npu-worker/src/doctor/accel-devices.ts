import { closeSync, constants, openSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import type { AccelNode, DoctorUser } from '@npu-fleet/protocol'

/** Where the doctor looks; tests point these at folders they create. */
export interface AccelPaths {
  /** Folder of the NPU device nodes; `/dev/accel`. */
  accelDir: string
  /** Group database, to name group ids; `/etc/group`. */
  groupFile: string
}

/** The paths of a real host. */
export const HOST_ACCEL_PATHS: AccelPaths = { accelDir: '/dev/accel', groupFile: '/etc/group' }

/** The Linux group that owns `/dev/accel/accel*` on Intel NPU hosts (udev rule of the NPU driver). */
export const RENDER_GROUP = 'render'

/** What the doctor found of the NPU device nodes and the user it runs as. */
export interface AccelFindings {
  /** Null when the folder itself is missing (no NPU driver bound to a device). */
  nodes: AccelNode[] | null
  user: DoctorUser
}

/** Group id -> name, from an /etc/group-format file; an unreadable file gives an empty map. */
function groupNames(groupFile: string): Map<number, string> {
  const names = new Map<number, string>()
  let text = ''
  try {
    text = readFileSync(groupFile, 'utf8')
  } catch {
    return names
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':')
    if (name && gid !== undefined && /^\d+$/.test(gid)) names.set(Number(gid), name)
  }
  return names
}

/** The current user, its groups by name, and whether `render` is among them. */
export function currentUser(paths: AccelPaths = HOST_ACCEL_PATHS): DoctorUser {
  const names = groupNames(paths.groupFile)
  const info = userInfo()
  // getgroups() lists the supplementary groups; the primary group may be missing from it.
  const gids = new Set<number>([...(process.getgroups?.() ?? []), info.gid])
  const groups = [...gids].sort((a, b) => a - b).map((gid) => names.get(gid) ?? String(gid))
  return { name: info.username, uid: info.uid, groups, in_render_group: groups.includes(RENDER_GROUP) }
}

/**
 * Lists `accel*` nodes and opens each read-write, as the NPU driver's user-space library does: a node that
 * exists but cannot be opened is the classic "user not in the render group" failure.
 */
export function checkAccelDevices(paths: AccelPaths = HOST_ACCEL_PATHS): AccelFindings {
  const user = currentUser(paths)
  let entries: string[]
  try {
    entries = readdirSync(paths.accelDir)
  } catch {
    return { nodes: null, user }
  }
  const names = groupNames(paths.groupFile)
  const nodes = entries
    .filter((name) => /^accel\d+$/.test(name))
    .sort()
    .map((name): AccelNode => {
      const path = join(paths.accelDir, name)
      const stat = statSync(path)
      const node = {
        path,
        mode: `0${(stat.mode & 0o777).toString(8)}`,
        group: names.get(stat.gid) ?? String(stat.gid),
      }
      try {
        // open(2) of a device node returns at once; the fd is closed again, nothing is sent to the device.
        closeSync(openSync(path, constants.O_RDWR | constants.O_NONBLOCK))
        return { ...node, openable: true, error: null }
      } catch (err) {
        const e = err as NodeJS.ErrnoException
        return { ...node, openable: false, error: `${e.code ?? 'error'}: ${e.message}` }
      }
    })
  return { nodes, user }
}
