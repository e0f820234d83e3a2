// BYTES tensors on the wire: in the binary tensor extension and in gRPC raw contents each element is a 4-byte
// little-endian length followed by that many bytes (Triton's extension_binary_data.md); in JSON, a string.

const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** Frames BYTES elements (strings as UTF-8, or raw bytes) as length-prefixed bytes. */
export function encodeBytesElements(elements: readonly (string | Uint8Array)[]): Uint8Array {
  const encoded = elements.map((e) => (typeof e === 'string' ? utf8.encode(e) : e))
  const out = new Uint8Array(encoded.reduce((sum, e) => sum + 4 + e.length, 0))
  const view = new DataView(out.buffer)
  let offset = 0
  for (const element of encoded) {
    view.setUint32(offset, element.length, true)
    out.set(element, offset + 4)
    offset += 4 + element.length
  }
  return out
}

/**
 * Splits length-prefixed BYTES into its elements (views into `bytes`, not copies). Throws a RangeError saying
 * where when a length runs past the end, or when `count` is given and the elements are fewer or more.
 */
export function decodeBytesElements(bytes: Uint8Array, count?: number): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const elements: Uint8Array[] = []
  let offset = 0
  while (offset < bytes.length) {
    if (offset + 4 > bytes.length) {
      throw new RangeError(
        `element ${elements.length}: ${bytes.length - offset} bytes left, too few for its length`,
      )
    }
    const length = view.getUint32(offset, true)
    if (offset + 4 + length > bytes.length) {
      throw new RangeError(
        `element ${elements.length}: length ${length} runs past the end (${bytes.length - offset - 4} bytes left)`,
      )
    }
    elements.push(bytes.subarray(offset + 4, offset + 4 + length))
    offset += 4 + length
  }
  if (count !== undefined && elements.length !== count) {
    throw new RangeError(`expected ${count} length-prefixed elements, got ${elements.length}`)
  }
  return elements
}

/** The text of one BYTES element, or null when it is not valid UTF-8. */
export function utf8Text(element: Uint8Array): string | null {
  try {
    return strictUtf8.decode(element)
  } catch {
    return null
  }
}
