// The Python stack the worker replaces, as a process `pnpm bench:peers` can start: its Debian trixie root
// filesystem (python-rootfs.sh, cached) and the FastAPI server (kserve_peer.py) run in a chroot, which
// shares the host's loopback.
import { spawn, spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { onCpus } from '../lib.mjs'

const peersDir = dirname(fileURLToPath(import.meta.url))

/**
 * The peer's rootfs path, built on first use (a few minutes) unless `cachedOnly`; or null with the reason it
 * cannot be had here (not root, no debootstrap, no mirror...), for the bench to print and skip on.
 */
export function pythonPeerRootfs({ cachedOnly = false } = {}) {
  if (process.getuid?.() !== 0) return { rootfs: null, reason: 'building and entering the chroot needs root' }
  const run = spawnSync(join(peersDir, 'python-rootfs.sh'), cachedOnly ? ['--cached-only'] : [], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  if (run.status === 0) return { rootfs: run.stdout.trim().split('\n').at(-1), reason: null }
  const why = run.stderr.trim().split('\n').filter(Boolean).slice(-3).join(' / ')
  return { rootfs: null, reason: why || `python-rootfs.sh exited ${run.status}` }
}

/**
 * Starts kserve_peer.py in `rootfs` serving the models in `modelsDir` (`NAME/1/model.onnx`), with the JSON
 * codec `codec` ('stdlib' or 'orjson'), on `cpu` when given. The models and the script are bind-mounted
 * read-only into the tree inside a private mount namespace (with /proc, which ONNX Runtime reads), so
 * nothing stays mounted when the process ends. The PID is Python's own (taskset, unshare, sh and chroot all
 * exec). Resolves once it printed its port.
 */
export function startPythonPeer(rootfs, modelsDir, codec, cpu) {
  const script = [
    'set -e',
    'mount -t proc proc "$0/proc"',
    'mount --bind "$1" "$0/srv" && mount -o remount,bind,ro "$0/srv"',
    'mount --bind "$2" "$0/mnt" && mount -o remount,bind,ro "$0/mnt"',
    'exec chroot "$0" /usr/bin/python3 /mnt/kserve_peer.py --models /srv --json "$3"',
  ].join('\n')
  const [command, argv] = onCpus(cpu, [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    script,
    rootfs,
    modelsDir,
    peersDir,
    codec,
  ])
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  // Debian's onnxruntime prints a "Schema error" line per ONNX operator at import: harmless, kept off the
  // bench's output; the last lines are shown if the peer fails to start.
  let stderr = ''
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000)
  })
  return new Promise((resolve, reject) => {
    let buffered = ''
    child.stdout.on('data', (chunk) => {
      buffered += chunk
      for (const line of buffered.split('\n')) {
        try {
          const { port } = JSON.parse(line)
          if (port) resolve({ child, pid: child.pid, url: `http://127.0.0.1:${port}` })
        } catch {}
      }
    })
    child.once('exit', (code) => {
      const tail = stderr
        .split('\n')
        .filter((l) => l && !l.startsWith('Schema error'))
        .slice(-5)
        .join(' / ')
      reject(new Error(`python peer (${codec}) exited ${code}: ${tail}`))
    })
  })
}
