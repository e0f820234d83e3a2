import fc from 'fast-check'
import { Counter, Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { RecordedHistogram } from '../../src/metrics/recorded-histogram.js'

// The recorded histogram replaces prom-client's on the request path, so its exposition must be prom-client's,
// byte for byte: the same observations into both give the same text and the same JSON.

const BUCKETS = [0.0005, 0.001, 0.01, 0.1, 1]
const LABELS = ['route', 'method', 'status'] as const

type Observation = { value: number; labels: [string, string, string] }

function expositions(observations: readonly Observation[]) {
  const ours = new Registry()
  const recorded = new RecordedHistogram({
    name: 'x_duration_seconds',
    help: 'help text',
    labelNames: LABELS,
    buckets: BUCKETS,
    registers: [ours],
    counter: { name: 'x_total', help: 'count text' },
  })
  const theirs = new Registry()
  const counter = new Counter({
    name: 'x_total',
    help: 'count text',
    labelNames: LABELS,
    registers: [theirs],
  })
  const histogram = new Histogram({
    name: 'x_duration_seconds',
    help: 'help text',
    labelNames: LABELS,
    buckets: BUCKETS,
    registers: [theirs],
  })
  for (const { value, labels } of observations) {
    recorded.observe(value, ...labels)
    const [route, method, status] = labels
    counter.inc({ route, method, status })
    histogram.observe({ route, method, status }, value)
  }
  return { ours, theirs }
}

const observation = fc.record({
  value: fc.oneof(fc.double({ min: 0, max: 5, noNaN: true }), fc.constantFrom(...BUCKETS)),
  labels: fc.tuple(
    fc.constantFrom('/health', '/v2/models/:name/infer', 'unmatched'),
    fc.constantFrom('GET', 'POST'),
    fc.constantFrom('200', '404', '503'),
  ),
})

describe('RecordedHistogram', () => {
  it('exposes what prom-client exposes for the same observations (text and JSON, counter included)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(observation, { maxLength: 60 }), async (observations) => {
        const { ours, theirs } = expositions(observations)
        expect(await ours.metrics()).toBe(await theirs.metrics())
        expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON())
      }),
      { numRuns: 60 },
    )
  })

  it('forgets its series on a registry reset, as prom-client does', async () => {
    const { ours, theirs } = expositions([{ value: 0.002, labels: ['/health', 'GET', '200'] }])
    ours.resetMetrics()
    theirs.resetMetrics()
    expect(await ours.metrics()).toBe(await theirs.metrics())
  })

  it('takes one to five labels', () => {
    const make = (labelNames: string[]) =>
      new RecordedHistogram({ name: 'y', help: 'y', labelNames, buckets: [1], registers: [] })
    expect(() => make([])).toThrow(/1 to 5 labels/)
    expect(() => make(['a', 'b', 'c', 'd', 'e', 'f'])).toThrow(/1 to 5 labels/)
    expect(() => make(['a', 'b', 'c', 'd', 'e'])).not.toThrow()
  })
})
