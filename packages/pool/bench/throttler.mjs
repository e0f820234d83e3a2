// The SIGSTOP/SIGCONT duty cycles of the benchmarks' throttled workers, in a process of its own: run in the
// load generator's event loop, the cycles would stretch whenever that loop is busy, so the side under test
// (the pool runs in that loop; the HAProxy side's client does too, with less work) would decide how slow the
// "slow" workers are. Spawned by bench-lib's `startThrottler`; argv[2] is JSON `[{ pid, runMs, stopMs }]`.
// On the IPC message 'sample' it answers the share of the time each process was let run since the last
// sample (measured, so a report can show that both sides of a paired round had the same fleet); on 'stop'
// it lets every process run and exits.

const targets = JSON.parse(process.argv[2]).map((t) => ({
  ...t,
  stopped: false,
  stoppedMs: 0,
  since: performance.now(),
  sampledAt: performance.now(),
  timer: null,
}))

function signal(t, name) {
  try {
    process.kill(t.pid, name)
  } catch {
    // The worker is gone (a failure scenario killed it): nothing left to throttle.
    clearTimeout(t.timer)
  }
}

function tick(t) {
  const now = performance.now()
  if (t.stopped) t.stoppedMs += now - t.since
  t.since = now
  t.stopped = !t.stopped
  signal(t, t.stopped ? 'SIGSTOP' : 'SIGCONT')
  t.timer = setTimeout(tick, t.stopped ? t.stopMs : t.runMs, t)
}

for (const t of targets) t.timer = setTimeout(tick, t.runMs, t)

process.on('message', (message) => {
  const now = performance.now()
  if (message === 'sample') {
    const shares = targets.map((t) => {
      const stoppedMs = t.stoppedMs + (t.stopped ? now - t.since : 0)
      const share = 1 - stoppedMs / Math.max(1, now - t.sampledAt)
      t.stoppedMs = 0
      t.since = now
      t.sampledAt = now
      return share
    })
    process.send({ shares })
  } else if (message === 'stop') {
    for (const t of targets) {
      clearTimeout(t.timer)
      signal(t, 'SIGCONT')
    }
    process.exit(0)
  }
})
// The parent died without 'stop': never leave a worker frozen.
process.on('disconnect', () => {
  for (const t of targets) signal(t, 'SIGCONT')
  process.exit(0)
})
