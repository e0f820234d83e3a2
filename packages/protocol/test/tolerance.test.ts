import { describe, expect, it } from 'vitest'
import { compareOutputs, precisionOfDevice, TOLERANCE_OF_PRECISION, toleranceFor } from '../src/index.js'

describe('device tolerance', () => {
  it('derives the precision from the device, and from the runtime when it reports one', () => {
    expect(precisionOfDevice('CPU')).toBe('FP32')
    expect(precisionOfDevice('NPU')).toBe('FP16')
    expect(precisionOfDevice('GPU.1')).toBe('FP16')
    expect(precisionOfDevice('CPU', 'bf16')).toBe('BF16')
    expect(precisionOfDevice('NPU', 'f32')).toBe('FP32')
    expect(precisionOfDevice('NPU', 'something new')).toBe('FP16')
    expect(toleranceFor('NPU')).toEqual(TOLERANCE_OF_PRECISION.FP16)
  })

  it('counts mismatches, NaN and length differences', () => {
    const tol = { atol: 1e-3, rtol: 0 }
    expect(compareOutputs([1, 2, 3], [1, 2, 3.0005], tol)).toMatchObject({ ok: true, mismatches: 0 })
    expect(compareOutputs([1, 2.1, Number.NaN], [1, 2, 3], tol)).toMatchObject({
      ok: false,
      mismatches: 2,
      firstMismatch: 1,
      maxAbsError: Number.POSITIVE_INFINITY,
    })
    expect(compareOutputs([1, 2], [1, 2, 3], tol)).toMatchObject({
      ok: false,
      mismatches: 1,
      firstMismatch: 2,
    })
  })

  it('fails a wrong answer (shuffled, zeros) at every precision', () => {
    const expected = Array.from({ length: 16 }, (_, i) => Math.sin(i) * 2 + 0.5)
    const shuffled = [...expected].reverse()
    const zeros = expected.map(() => 0)
    for (const tol of Object.values(TOLERANCE_OF_PRECISION)) {
      expect(compareOutputs(shuffled, expected, tol).ok).toBe(false)
      expect(compareOutputs(zeros, expected, tol).ok).toBe(false)
    }
  })
})
