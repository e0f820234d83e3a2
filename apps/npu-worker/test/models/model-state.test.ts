import { describe, expect, it } from 'vitest'
import type { ModelCondition } from '../../src/backends/backend.js'
import { defaultRespawnDelayMs } from '../../src/backends/onnxruntime.js'
import { liveSlots, type ModelState, type Serving, stateOf } from '../../src/models/model-state.js'

const liveParallelism = (state: ModelState) =>
  liveSlots(state, (serving: Serving) => serving.model.parallelism)
/** A tensor model's state: its slots are its loaded parallelism. */
const servingState = (
  serving: Serving,
  condition: ModelCondition,
  selfTest: SelfTestRecord | null,
  previous: ModelState,
  now: number,
) => stateOf(serving, serving.model.parallelism, condition, selfTest, previous, now)

import type { SelfTestRecord } from '../../src/models/self-test.js'
import { ScriptedModel } from '../helpers/scripted-model.js'

// The pure transition function behind every model state: condition x last self-test -> state.

const serving: Serving = {
  model: new ScriptedModel('openvino', 'NPU', 4),
  batching: { policy: null, reason: null },
  golden: null,
}
const record = (result: SelfTestRecord['result'], message: string = result): SelfTestRecord => ({
  result,
  at: 0,
  reference: 'onnxruntime_cpu',
  precision: 'FP16',
  tolerance: { atol: 0.01, rtol: 0.01 },
  maxAbsError: null,
  mismatches: null,
  elements: null,
  durationMs: null,
  message,
})
const loading: ModelState = { kind: 'loading', since: 1 }

describe('servingState', () => {
  it('is ready with every slot and a passing (or reference-less) self-test', () => {
    expect(servingState(serving, { kind: 'serving' }, record('pass'), loading, 10)).toEqual({
      kind: 'ready',
      since: 10,
      serving,
    })
    expect(servingState(serving, { kind: 'serving' }, record('no_reference'), loading, 10).kind).toBe('ready')
  })

  it('is degraded with fewer slots, with drift, or both, listing every reason', () => {
    const both = servingState(
      serving,
      { kind: 'impaired', live: 3, reason: '1 of 4 requests being recycled' },
      record('drift', '16 of 16 outputs outside tolerance'),
      loading,
      10,
    )
    expect(both).toMatchObject({
      kind: 'degraded',
      live: 3,
      reasons: ['1 of 4 requests being recycled', 'output drift: 16 of 16 outputs outside tolerance'],
    })
    expect(liveParallelism(both)).toBe(3)
    const failing = servingState(serving, { kind: 'serving' }, record('error', 'timed out'), loading, 10)
    expect(failing).toMatchObject({ kind: 'degraded', live: 4, reasons: ['self-test failed: timed out'] })
  })

  it('is recovering when nothing serves, whatever the self-test said, with no live slot', () => {
    const state = servingState(
      serving,
      { kind: 'recovering', reason: 'queue recycled', attempt: 2, retryAt: 99 },
      record('drift'),
      loading,
      10,
    )
    expect(state).toMatchObject({ kind: 'recovering', reason: 'queue recycled', attempt: 2, retryAt: 99 })
    expect(liveParallelism(state)).toBe(0)
  })

  it('keeps `since` while the kind holds and restarts it when the kind changes', () => {
    const first = servingState(serving, { kind: 'impaired', live: 1, reason: 'a' }, null, loading, 10)
    const again = servingState(serving, { kind: 'impaired', live: 2, reason: 'b' }, null, first, 20)
    expect(again.since).toBe(10)
    expect(servingState(serving, { kind: 'serving' }, null, again, 30).since).toBe(30)
  })
})

describe('thread respawn backoff', () => {
  it('is immediate for the first attempt, then doubles from 250 ms up to 30 s', () => {
    expect([2, 3, 4, 5, 8, 20].map(defaultRespawnDelayMs)).toEqual([250, 500, 1000, 2000, 16_000, 30_000])
  })
})
