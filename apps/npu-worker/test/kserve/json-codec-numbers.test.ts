import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { JsonCodecPool } from '../../src/kserve/json-codec-pool.js'
import { structureJsonRequest } from '../../src/kserve/json-request.js'
import { tensorFromElements } from '../../src/kserve/tensor-codec.js'
import { DIST_THREAD_ENTRIES } from '../helpers/thread-entries.js'

// The JSON thread reads the tensors' numbers straight into typed arrays (json-tensor-parser.ts); the inline
// path reads them with JSON.parse into JS arrays. For every datatype, valid and invalid elements alike, both
// must make the same tensor or refuse with the same message naming the same element.

const pool = new JsonCodecPool(DIST_THREAD_ENTRIES.jsonCodec)
afterAll(() => pool.close())

type Outcome = { data: unknown[] } | { error: string }

/** The inline path: JSON.parse, the schema, then the codec's element checks. */
function inline(text: string): Outcome {
  try {
    const request = structureJsonRequest(JSON.parse(text), null)
    const input = request.inputs[0]
    if (input?.contents.kind !== 'elements') return { error: 'no elements' }
    const tensor = tensorFromElements(input.contents.data, input.datatype, input.shape, input.contents.field)
    return { data: Array.from(tensor.data as ArrayLike<unknown>) }
  } catch (error) {
    return { error: (error as Error).message }
  }
}

async function offThread(text: string): Promise<Outcome> {
  try {
    // Split in two, as a socket may deliver it: the boundary falls anywhere, inside a number too.
    const bytes = new TextEncoder().encode(text)
    const cut = Math.floor(bytes.length / 2)
    const request = await pool.decode([bytes.slice(0, cut), bytes.slice(cut)])
    const contents = request.inputs[0]?.contents
    if (contents?.kind !== 'tensor') return { error: 'no tensor' }
    return { data: Array.from(contents.tensor.data as ArrayLike<unknown>) }
  } catch (error) {
    return { error: (error as Error).message }
  }
}

const DATATYPES = [
  'FP32',
  'FP64',
  'FP16',
  'BF16',
  'INT8',
  'UINT8',
  'INT16',
  'UINT16',
  'INT32',
  'UINT32',
  'INT64',
  'UINT64',
  'BOOL',
] as const

/** Number texts a client may send: integers near every type's limits, fractions, exponents, huge and tiny values. */
const element = fc.oneof(
  fc.integer({ min: -70_000, max: 70_000 }).map(String),
  fc.constantFrom(
    '127',
    '128',
    '-128',
    '-129',
    '255',
    '256',
    '32767',
    '65535',
    '65536',
    '2147483647',
    '2147483648',
    '4294967295',
    '4294967296',
    '-0',
    '0.0',
    '1e2',
    '1.5',
    '-2.5e-3',
    '1e400',
    '9007199254740993',
    '18446744073709551615',
    '1e-45',
    '3.4028235e38',
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  fc.float({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
)

describe('numbers read on the JSON thread against JSON.parse on the main thread', () => {
  it('gives the same tensor or the same 400 for every datatype', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...DATATYPES),
        fc.array(element, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: -1, max: 1 }),
        async (datatype, elements, extra) => {
          // Sometimes the count is off by one: the count check must match too.
          const shape = [Math.max(0, elements.length + extra)]
          const text = `{"inputs":[{"name":"x","datatype":"${datatype}","shape":[${shape}],"data":[${elements.join(',')}]}]}`
          const [a, b] = [inline(text), await offThread(text)]
          expect(b).toEqual(a)
        },
      ),
      { numRuns: 400 },
    )
  })
})
