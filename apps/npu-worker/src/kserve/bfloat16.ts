// bfloat16 <-> number, for BF16 tensors: the upper 16 bits of an IEEE float32. JSON carries numbers; the
// binary extension and the backends carry the raw 16 bits.

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

/** Rounds a number to the nearest bfloat16 (ties to even, NaN kept quiet) and returns its 16 bits. */
export function toBfloat16Bits(value: number): number {
  f32[0] = value
  const x = u32[0] as number
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff // NaN: keep it a (quiet) NaN
  // Round to nearest even on the 16 bits dropped; a carry may bump the exponent (up to infinity), as it should.
  const rounded = x + 0x7fff + ((x >>> 16) & 1)
  return (rounded >>> 16) & 0xffff
}

/** The number a bfloat16's 16 bits stand for (exact: widening to float32 loses nothing). */
export function fromBfloat16Bits(bits: number): number {
  u32[0] = (bits & 0xffff) << 16
  return f32[0] as number
}
