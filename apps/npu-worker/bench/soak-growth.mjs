// The soak's RSS growth, read from a 1-s series of { t, rss, state } samples (state: what sets the memory's
// level other than a leak, here the detector's running ONNX Runtime instances, e.g. "ppocr-det 2"; null where
// /health had not answered yet).
//
// Why not two single samples (the figure reported until now, kept as `point`): at constant load one 1-s RSS
// reading moves by ±25 MiB around its level (in-flight 1.2 MB request bodies that live until the next GC, the
// main malloc heap's free holes), an sd of ~9 MiB (2.6%), so the difference of two readings has an sd of ~3.7%
// and crossed 5% in 10% of the start times of one steady soak. And the detector's second instance starts and
// retires on demand (~50 MiB with its isolate and arena): which state the two readings fall in moved the point
// figure between -15% and +30% within one 15-minute soak whose level at a given instance count stayed flat.
// A leak is growth at the same instance count, so `sameState` compares like with like, leaving out the
// `settle` seconds after each change of state (a new instance's arena grows over its first runs).

import { median } from './lib.mjs'

/** The most common state in `samples` (null when none has one). */
function modeState(samples) {
  const counts = new Map()
  for (const s of samples) if (s.state !== null) counts.set(s.state, (counts.get(s.state) ?? 0) + 1)
  let best = null
  for (const [state, count] of counts) if (best === null || count > counts.get(best)) best = state
  return best
}

/** Least-squares slope of rss over t, in MiB per minute (NaN with fewer than two samples). */
function slopePerMinute(samples) {
  const n = samples.length
  if (n < 2) return Number.NaN
  const mt = samples.reduce((a, s) => a + s.t, 0) / n
  const mr = samples.reduce((a, s) => a + s.rss, 0) / n
  const num = samples.reduce((a, s) => a + (s.t - mt) * (s.rss - mr), 0)
  const den = samples.reduce((a, s) => a + (s.t - mt) ** 2, 0)
  return (num / den) * 60
}

/**
 * Growth after warm-up (`from` seconds) to the end of the series, four ways:
 *  - `point`: the sample at `from` against the last one (the figure reported before);
 *  - `window`: the median of the `window` seconds from `from` against the median of the last `window` seconds,
 *    with each window's most common state;
 *  - `sameState`: the same two medians over only the samples in the last window's state, `settle` seconds or
 *    more after the state last changed (its first `window` such samples after `from` against its last
 *    `window`), null when fewer than twice `window` samples qualify;
 *  - `slope`: least squares over every sample from `from`, MiB per minute.
 */
export function soakGrowth(samples, { from, window, settle = 10 }) {
  const after = samples.filter((s) => s.t >= from)
  let changedAt = Number.NEGATIVE_INFINITY
  const settled = samples.filter((s, i) => {
    if (i > 0 && s.state !== samples[i - 1].state) changedAt = s.t
    return s.t >= from && s.t - changedAt >= settle
  })
  const end = samples.at(-1).t
  const ratio = (a, b) => b / a - 1
  const first = after.filter((s) => s.t < from + window)
  const last = after.filter((s) => s.t >= end - window)
  const lastState = modeState(last)
  const same = settled.filter((s) => s.state === lastState)
  const count = Math.min(window, Math.floor(same.length / 2))
  const sameFirst = same.slice(0, count)
  const sameLast = same.slice(-count)
  return {
    point: { from: after[0], to: samples.at(-1), growth: ratio(after[0].rss, samples.at(-1).rss) },
    window: {
      from: { median: median(first.map((s) => s.rss)), state: modeState(first), count: first.length },
      to: { median: median(last.map((s) => s.rss)), state: lastState, count: last.length },
      growth: ratio(median(first.map((s) => s.rss)), median(last.map((s) => s.rss))),
    },
    sameState:
      lastState === null || same.length < 2 * window
        ? null
        : {
            state: lastState,
            samples: same.length,
            from: { t: sameFirst[0].t, median: median(sameFirst.map((s) => s.rss)) },
            to: { t: sameLast[0].t, median: median(sameLast.map((s) => s.rss)) },
            growth: ratio(median(sameFirst.map((s) => s.rss)), median(sameLast.map((s) => s.rss))),
          },
    slope: slopePerMinute(after),
  }
}
