// The WebAssembly side of big FP32 JSON bodies (float32-scanner.wat, compiled by the build to generated/): a
// memory that a body is joined into, straight from the socket's chunks (no second copy), and the loop that
// reads its FP32 data arrays' numbers from there. json-tensor-parser.ts keeps the structure, the grammar, the
// error messages and every number the loop leaves to it.
//
// The memory only grows (WebAssembly memories cannot shrink): to the largest body this thread joined, plus as
// much again for the float32s read from it. The JSON thread that owns one retires after 15 s idle, and its
// memory with it; bodies are bounded by the server's body limit.
import { readFileSync } from 'node:fs'
import type { BodyChunks } from './body-chunks.js'

/** Where the body starts in the memory; below it, the tables the loop reads (see float32-scanner.wat). */
const BODY_AT = 8192
/** Zero bytes after the body: the loop loads up to 16 + 8 bytes past a position, and none of them is a digit. */
const PADDING = 32
const PAGE = 65_536

// src/kserve/ and dist/kserve/ both sit two levels below the package, next to generated/.
const WASM_FILE = new URL('../../generated/float32-scanner.wasm', import.meta.url)

// The WebAssembly API as this file uses it (the global exists in Node; @types/node 20 does not declare it).
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object) => { exports: object }
}

interface ScannerExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number }
  count: { value: number }
  ended: { value: number }
  readFloat32Elements(p: number, out: number, n: number, cap: number): number
}

/** Compiled once per thread (1 KB: a few milliseconds), instantiated per scanner. */
let compiled: object | undefined

/**
 * One thread's WebAssembly body buffer and FP32 number loop. Bodies joined by {@link join} are parsed with the
 * loop when passed to parseJsonTensors with this scanner; a body is valid until the next join.
 */
export class Float32Scanner {
  readonly #exports: ScannerExports
  #body: Uint8Array = new Uint8Array(0)

  constructor() {
    compiled ??= new WebAssembly.Module(readFileSync(WASM_FILE))
    this.#exports = new WebAssembly.Instance(compiled).exports as unknown as ScannerExports
    this.#fillTables()
  }

  /** The body's bytes, joined into this scanner's memory (after the last join, its views are stale). */
  join(body: BodyChunks): Uint8Array {
    const bytes = this.#reserve(body.length)
    let offset = 0
    for (const chunk of body.chunks) {
      bytes.set(chunk, offset)
      offset += chunk.length
    }
    return bytes
  }

  /** `bytes` copied into this scanner's memory (a body that came as one buffer; tests). */
  copy(bytes: Uint8Array): Uint8Array {
    return this.join({ chunks: [bytes], length: bytes.length })
  }

  /** True when `bytes` is the body this scanner holds (all of it: zeros follow), so its loop may read it. */
  holds(bytes: Uint8Array): boolean {
    return (
      bytes.buffer === this.#exports.memory.buffer &&
      bytes.byteOffset === BODY_AT &&
      bytes.length === this.#body.length
    )
  }

  /**
   * Room for `count` float32s after the body, for the loop to write into; null when the memory has not that
   * much (it does not grow during a parse: that would detach the body's views).
   */
  output(count: number): Float32Array | null {
    const at = (BODY_AT + this.#body.length + PADDING + 15) & ~15
    if (at + count * 4 > this.#exports.memory.buffer.byteLength) return null
    return new Float32Array(this.#exports.memory.buffer, at, count)
  }

  /**
   * Reads FP32 elements of the held body from `p` (an element's start, an index into the body) into `out` (from
   * {@link output}) from index `n`, as readFloat32Elements in json-tensor-parser.ts does; returns where it
   * stopped. {@link count} and {@link ended} tell the rest.
   */
  read(p: number, out: Float32Array, n: number): number {
    // The loop writes wherever `out` says: into this memory only, never over the tables or the body.
    if (out.buffer !== this.#exports.memory.buffer || out.byteOffset < BODY_AT + this.#body.length + PADDING)
      throw new RangeError('Float32Scanner.read: out is not room from output()')
    return this.#exports.readFloat32Elements(BODY_AT + p, out.byteOffset, n, out.length) - BODY_AT
  }

  /** How many elements `out` holds after the last read. */
  get count(): number {
    return this.#exports.count.value
  }

  /** Whether the last read got to the array's closing bracket. */
  get ended(): boolean {
    return this.#exports.ended.value === 1
  }

  /** A view of `length` body bytes in the memory, grown first when needed (body, padding, as much for output). */
  #reserve(length: number): Uint8Array {
    const memory = this.#exports.memory
    const needed = BODY_AT + 2 * (length + PADDING) + 16
    if (needed > memory.buffer.byteLength) memory.grow(Math.ceil((needed - memory.buffer.byteLength) / PAGE))
    this.#body = new Uint8Array(memory.buffer, BODY_AT, length)
    new Uint8Array(memory.buffer, BODY_AT + length, PADDING).fill(0)
    return this.#body
  }

  #fillTables(): void {
    const buffer = this.#exports.memory.buffer
    // 10^-k as the JSON grammar reads `1e-${k}`: correctly rounded.
    new Float64Array(buffer, 0, 201).set(Float64Array.from({ length: 201 }, (_, k) => Number(`1e-${k}`)))
    new BigInt64Array(buffer, 2048, 17).set(Array.from({ length: 17 }, (_, k) => 10n ** BigInt(k)))
    // For a run of k digits: lanes 16-k..15 take bytes 0..k-1, the rest are 0 (index 0x80 selects zero).
    const swizzle = new Uint8Array(buffer, 4096, 17 * 16).fill(0x80)
    for (let k = 0; k <= 16; k++) for (let j = 16 - k; j < 16; j++) swizzle[k * 16 + j] = j - (16 - k)
  }
}

/**
 * A scanner for this thread, or null with a process warning when its module cannot be compiled here (WebAssembly
 * SIMD needs SSE4.1 on x86; a release without generated/float32-scanner.wasm is broken): the JS loop then reads
 * every number, with the same results, about 2.5x slower on big bodies.
 */
export function createFloat32Scanner(): Float32Scanner | null {
  try {
    return new Float32Scanner()
  } catch (error) {
    process.emitWarning(
      `the JSON thread reads numbers without its WebAssembly loop: ${(error as Error).message}`,
      {
        code: 'NPU_WORKER_NO_WASM_SCANNER',
      },
    )
    return null
  }
}
