/**
 * GPT-2's map from bytes to printable characters, which every byte-level BPE tokenizer.json (GPT-2, Llama 3,
 * Qwen2) spells its tokens in: printable Latin-1 bytes map to themselves, the others to U+0100 upwards, so a
 * token is a string of visible characters (a space is `Ġ`).
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const printable: number[] = []
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b)
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b)
  for (let b = 0xae; b <= 0xff; b++) printable.push(b)
  const chars: string[] = new Array(256)
  let next = 0
  for (let b = 0; b < 256; b++) {
    chars[b] = printable.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + next++)
  }
  return chars
})()

/** The inverse of {@link BYTE_TO_CHAR}. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((ch, b) => [ch, b]))
