import { describe, expect, it } from 'vitest'
import { LatencyWindow } from '../../src/stats/latency-window.js'

describe('LatencyWindow', () => {
  it('gives nearest-rank percentiles of the recorded values', () => {
    const w = new LatencyWindow(1000)
    expect(w.summary()).toEqual({ samples: 0, p50: null, p95: null, p99: null })
    for (let i = 100; i >= 1; i--) w.record(i)
    expect(w.summary()).toEqual({ samples: 100, p50: 50, p95: 95, p99: 99 })
  })

  it('keeps only the last `capacity` values', () => {
    const w = new LatencyWindow(4)
    for (const v of [1000, 1000, 1, 2, 3, 4]) w.record(v)
    expect(w.summary()).toEqual({ samples: 4, p50: 2, p95: 4, p99: 4 })
  })
})
