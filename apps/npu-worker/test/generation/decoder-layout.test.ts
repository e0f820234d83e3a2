import { describe, expect, it } from 'vitest'
import { readDecoderLayout, type ValueMetadata } from '../../src/generation/decoder-layout.js'

const tensor = (name: string, type: string, shape: Array<number | string>): ValueMetadata => ({
  name,
  isTensor: true,
  type,
  shape,
})
const cache = (
  prefix: string,
  layers: number,
  type = 'float32',
  shape: Array<number | string> = ['batch', 2, 'past', 16],
) =>
  Array.from({ length: layers }, (_, l) =>
    ['key', 'value'].map((kind) => tensor(`${prefix}.${l}.${kind}`, type, shape)),
  ).flat()
const ids = tensor('input_ids', 'int64', ['batch', 'sequence'])
const mask = tensor('attention_mask', 'int64', ['batch', 'total'])
const logits = tensor('logits', 'float32', ['batch', 'sequence', 512])

describe('readDecoderLayout', () => {
  it('reads layers, heads, head size and types from optimum-layout metadata', () => {
    const layout = readDecoderLayout(
      [ids, mask, tensor('position_ids', 'int64', ['b', 's']), ...cache('past_key_values', 3)],
      [logits, ...cache('present', 3)],
    )
    expect(layout).toMatchObject({
      layers: 3,
      kvHeads: 2,
      headDim: 16,
      cacheType: 'float32',
      logitsType: 'float32',
      hasPositionIds: true,
      hasUseCacheBranch: false,
    })
    expect(layout.pastNames.slice(0, 3)).toEqual([
      'past_key_values.0.key',
      'past_key_values.0.value',
      'past_key_values.1.key',
    ])
    expect(layout.cacheOutputNames[5]).toBe('present.2.value')
    expect(layout.cacheOutput).toBe('present')
  })

  it('reads a model that returns only the new positions (new_key_values.N), and names a missing one', () => {
    const past = cache('past_key_values', 2)
    const layout = readDecoderLayout([ids, mask, ...past], [logits, ...cache('new_key_values', 2)])
    expect(layout.cacheOutput).toBe('new-positions')
    expect(layout.cacheOutputNames).toEqual([
      'new_key_values.0.key',
      'new_key_values.0.value',
      'new_key_values.1.key',
      'new_key_values.1.value',
    ])
    // present.* wins when a model has both (optimum's layout is the one every export has).
    const both = readDecoderLayout(
      [ids, mask, ...past],
      [logits, ...cache('present', 2), ...cache('new_key_values', 2)],
    )
    expect(both.cacheOutput).toBe('present')
    expect(() => readDecoderLayout([ids, mask, ...past], [logits, ...cache('new_key_values', 1)])).toThrow(
      /lacks output new_key_values.1.key/,
    )
  })

  it('takes symbolic heads and head size from config.json', () => {
    const symbolic = ['batch', 'heads', 'past', 'size']
    const layout = readDecoderLayout(
      [ids, mask, ...cache('past_key_values', 1, 'float16', symbolic)],
      [logits, ...cache('present', 1, 'float16', symbolic)],
      {
        num_attention_heads: 14,
        num_key_value_heads: 2,
        hidden_size: 896,
      },
    )
    expect(layout).toMatchObject({ kvHeads: 2, headDim: 64, cacheType: 'float16', hasPositionIds: false })
    expect(() =>
      readDecoderLayout(
        [ids, mask, ...cache('past_key_values', 1, 'float32', symbolic)],
        [logits, ...cache('present', 1, 'float32', symbolic)],
      ),
    ).toThrow(/symbolic and config.json does not give them/)
  })

  it('refuses what it cannot feed, naming it', () => {
    const past = cache('past_key_values', 1)
    const present = cache('present', 1)
    expect(() => readDecoderLayout([mask, ...past], [logits, ...present])).toThrow(/no input_ids input/)
    expect(() => readDecoderLayout([ids, mask], [logits])).toThrow(/text-generation-with-past/)
    expect(() =>
      readDecoderLayout([ids, mask, tensor('inputs_embeds', 'float32', [1]), ...past], [logits, ...present]),
    ).toThrow(/does not feed: inputs_embeds/)
    expect(() => readDecoderLayout([ids, mask, ...past], [logits])).toThrow(/lacks output present.0.key/)
    expect(() =>
      readDecoderLayout([ids, mask, ...cache('past_key_values', 1, 'int8')], [logits, ...present]),
    ).toThrow(/only float32 and float16/)
  })
})
