import { encodeBytesElements } from '@npu-fleet/protocol'
import { describe, expect, it } from 'vitest'
import { attachBinaryOutputs } from '../../src/transport/binary-tensors.js'

// The binary part of an answer back into its outputs, on the protocol's datatype table.
describe('attachBinaryOutputs', () => {
  const response = (outputs: Array<{ name: string; datatype: string; shape: number[]; size?: number }>) => ({
    model_name: 'm',
    outputs: outputs.map(({ size, ...o }) => ({
      ...o,
      datatype: o.datatype as 'FP32',
      ...(size === undefined ? {} : { parameters: { binary_data_size: size } }),
    })),
  })

  it('gives numeric outputs typed arrays of their datatype and BYTES outputs their strings, in order', () => {
    const text = encodeBytesElements(['ab', '', 'é'])
    const half = new Uint16Array([0x3c00, 0x4000])
    const binary = Buffer.concat([Buffer.from(half.buffer), text])
    const out = attachBinaryOutputs(
      response([
        { name: 'h', datatype: 'FP16', shape: [2], size: 4 },
        { name: 'j', datatype: 'FP32', shape: [1] },
        { name: 't', datatype: 'BYTES', shape: [3], size: text.length },
      ]),
      binary,
    )
    expect(out?.outputs.map((o) => o.data)).toEqual([
      new Uint16Array([0x3c00, 0x4000]),
      undefined,
      ['ab', '', 'é'],
    ])
  })

  it('refuses sizes that do not add up and BYTES frames that are broken', () => {
    expect(
      attachBinaryOutputs(response([{ name: 'x', datatype: 'FP32', shape: [1], size: 6 }]), Buffer.alloc(6)),
    ).toBeNull()
    expect(
      attachBinaryOutputs(response([{ name: 'x', datatype: 'FP32', shape: [1], size: 4 }]), Buffer.alloc(8)),
    ).toBeNull()
    expect(
      attachBinaryOutputs(
        response([{ name: 't', datatype: 'BYTES', shape: [1], size: 3 }]),
        Buffer.from([9, 0, 0]),
      ),
    ).toBeNull()
  })
})
