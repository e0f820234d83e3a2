import { describe, expect, it } from 'vitest'
import {
  DatatypeSchema,
  decodeBytesElements,
  elementBytes,
  elementCount,
  encodeBytesElements,
  formatIssues,
  InferRequestSchema,
  isNumericDatatype,
  issueLines,
  TYPED_ARRAY_OF,
  utf8Text,
  WorkerErrorCode,
} from '../src/index.js'

describe('the datatype table', () => {
  it('has a typed array for every datatype but BYTES, whose element size is the wire size', () => {
    const sizes = Object.fromEntries(
      DatatypeSchema.options.filter(isNumericDatatype).map((d) => [d, elementBytes(d)]),
    )
    expect(sizes).toEqual({
      BOOL: 1,
      UINT8: 1,
      INT8: 1,
      UINT16: 2,
      INT16: 2,
      FP16: 2,
      BF16: 2,
      UINT32: 4,
      INT32: 4,
      FP32: 4,
      UINT64: 8,
      INT64: 8,
      FP64: 8,
    })
    expect(Object.keys(TYPED_ARRAY_OF).sort()).toEqual(
      DatatypeSchema.options.filter((d) => d !== 'BYTES').sort(),
    )
    expect(isNumericDatatype('BYTES')).toBe(false)
    expect(elementCount([2, 3, 4])).toBe(24)
    expect(elementCount([])).toBe(1)
  })
})

describe('BYTES elements', () => {
  it('frame as a 4-byte little-endian length and the bytes, and split back', () => {
    const framed = encodeBytesElements(['hi', '', 'é', new Uint8Array([0xff, 0])])
    expect([...framed]).toEqual([
      2, 0, 0, 0, 104, 105, 0, 0, 0, 0, 2, 0, 0, 0, 0xc3, 0xa9, 2, 0, 0, 0, 0xff, 0,
    ])
    const elements = decodeBytesElements(framed, 4)
    expect(elements.map((e) => utf8Text(e))).toEqual(['hi', '', 'é', null])
  })

  it('say where a frame is broken', () => {
    expect(() => decodeBytesElements(new Uint8Array([5, 0, 0, 0, 1, 2]))).toThrow(
      /element 0: length 5 runs past/,
    )
    expect(() => decodeBytesElements(new Uint8Array([0, 0, 0, 0, 1, 2]))).toThrow(/element 1: 2 bytes left/)
    expect(() => decodeBytesElements(encodeBytesElements(['a']), 2)).toThrow(/expected 2 .* got 1/)
  })
})

describe('zod issues', () => {
  it('read as `source: path: message`, joined by "; "', () => {
    const parsed = InferRequestSchema.safeParse({ inputs: [{ name: 'x', shape: [-1], datatype: 'FP8' }] })
    if (parsed.success) throw new Error('expected a failure')
    expect(formatIssues(parsed.error)).toMatch(/^inputs\[0\]\.shape\[0\]: .*; inputs\[0\]\.datatype: /)
    expect(formatIssues(parsed.error, 'body')).toMatch(/^body: inputs\[0\]\.shape\[0\]: /)
    expect(issueLines(parsed.error.issues, { prefix: 'npu' })[0]).toMatch(/^npu\.inputs\[0\]\.shape\[0\]: /)
  })
})

describe('WorkerErrorCode', () => {
  it('holds stable NPU_ERR_* codes, each named after its key', () => {
    for (const [key, code] of Object.entries(WorkerErrorCode)) expect(code).toBe(`NPU_ERR_${key}`)
  })
})
