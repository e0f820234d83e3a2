import { describe, expect, it } from 'vitest'
import { ErrorBodySchema, InferRequestSchema } from '../src/index.js'

describe('InferRequestSchema', () => {
  it('accepts a KServe v2 request with nested data and output selection', () => {
    const req = InferRequestSchema.parse({
      id: 'r1',
      inputs: [
        {
          name: 'input',
          shape: [2, 2],
          datatype: 'FP32',
          data: [
            [1, 2],
            [3, 4],
          ],
        },
      ],
      outputs: [{ name: 'output' }],
    })
    expect(req.inputs[0]?.shape).toEqual([2, 2])
  })

  it('names the field that is wrong', () => {
    const result = InferRequestSchema.safeParse({
      inputs: [{ name: 'x', shape: [1], datatype: 'FLOAT', data: [1] }],
    })
    expect(result.success).toBe(false)
    expect(result.error?.issues[0]?.path).toEqual(['inputs', 0, 'datatype'])
  })

  it('requires at least one input', () => {
    expect(InferRequestSchema.safeParse({ inputs: [] }).success).toBe(false)
  })
})

describe('ErrorBodySchema', () => {
  it('accepts only stable NPU_ERR_/POOL_ERR_ codes', () => {
    expect(ErrorBodySchema.safeParse({ error: 'x', code: 'NPU_ERR_QUEUE_FULL' }).success).toBe(true)
    expect(ErrorBodySchema.safeParse({ error: 'x', code: 'POOL_ERR_NO_WORKER' }).success).toBe(true)
    expect(ErrorBodySchema.safeParse({ error: 'x', code: 'oops' }).success).toBe(false)
  })
})
