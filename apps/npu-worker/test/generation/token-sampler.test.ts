import { describe, expect, it } from 'vitest'
import { TokenSampler } from '../../src/generation/token-sampler.js'

const settings = { temperature: 0, topP: 1, topK: 0, repetitionPenalty: 1, seed: 1 }
const logits = Float32Array.of(0.5, 3, -1, 2.9, 1, -4)
const none = new Set<number>()

/** How often each token is drawn in `n` draws. */
function histogram(sampler: TokenSampler, n: number, seen = none): number[] {
  const counts = Array(logits.length).fill(0)
  for (let i = 0; i < n; i++) counts[sampler.next(logits, 0, logits.length, seen)]++
  return counts
}

describe('TokenSampler', () => {
  it('is greedy at temperature 0 (ties to the lowest id), reading the row at the offset', () => {
    const sampler = new TokenSampler(settings)
    expect(sampler.next(logits, 0, 6, none)).toBe(1)
    const batch = Float32Array.of(...logits, 9, 0, 0, 9, 0, 0)
    expect(sampler.next(batch, 6, 6, none)).toBe(0)
  })

  it('applies the repetition penalty as Hugging Face does (divide positive, multiply negative)', () => {
    const sampler = new TokenSampler({ ...settings, repetitionPenalty: 1.2 })
    // 3 / 1.2 = 2.5 < 2.9: the seen token 1 loses to token 3.
    expect(sampler.next(logits, 0, 6, new Set([1]))).toBe(3)
    expect(sampler.next(logits, 0, 6, new Set([2]))).toBe(1)
  })

  it('draws the same tokens for the same seed, and others for another seed', () => {
    const draw = (seed: number) => {
      const sampler = new TokenSampler({ ...settings, temperature: 1, seed })
      return Array.from({ length: 50 }, () => sampler.next(logits, 0, 6, none))
    }
    expect(draw(7)).toEqual(draw(7))
    expect(draw(7)).not.toEqual(draw(8))
  })

  it('samples in proportion to softmax(logits / temperature)', () => {
    const n = 20_000
    const counts = histogram(new TokenSampler({ ...settings, temperature: 1, seed: 3 }), n)
    const weights = Array.from(logits, (l) => Math.exp(l))
    const total = weights.reduce((a, b) => a + b)
    weights.forEach((w, id) => {
      // Four standard deviations of a binomial count: a fixed seed makes this deterministic anyway.
      const p = w / total
      expect(Math.abs((counts[id] as number) - n * p)).toBeLessThan(4 * Math.sqrt(n * p * (1 - p)) + 1)
    })
  })

  it('keeps only the top k, and only the nucleus for top_p', () => {
    const topK = histogram(new TokenSampler({ ...settings, temperature: 1, topK: 2 }), 2000)
    expect(topK.map((c) => c > 0)).toEqual([false, true, false, true, false, false])
    // softmax: token 1 ≈ 0.42, token 3 ≈ 0.38; 0.5 needs both, 0.3 only token 1.
    const nucleus = histogram(new TokenSampler({ ...settings, temperature: 1, topP: 0.5 }), 2000)
    expect(nucleus.map((c) => c > 0)).toEqual([false, true, false, true, false, false])
    const narrow = histogram(new TokenSampler({ ...settings, temperature: 1, topP: 0.3 }), 200)
    expect(narrow).toEqual([0, 200, 0, 0, 0, 0])
  })
})
