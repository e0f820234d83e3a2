// Where the worker's thread entry files are. Worker threads cannot load TypeScript, so an entry is always a
// compiled `.js` file: the composition root (app.ts) passes these to whoever starts threads, and tests that run
// src/ under vitest pass the ones in dist/ (test/helpers/thread-entries.ts). Nothing looks for them by itself.

/** The compiled entry file of each kind of worker thread. */
export interface ThreadEntries {
  /** One ONNX Runtime session per thread (backends/onnxruntime-thread.ts). */
  onnxruntime: URL
  /** Big JSON bodies decoded and big JSON answers written (kserve/json-codec-thread.ts, its service json-codec-service.ts). */
  jsonCodec: URL
  /** The ONNX Runtime entry with fault injection, used only under `test_hooks` (testing/faulty-onnx-thread.ts). */
  faultyOnnxruntime: URL
  /** The text-generation engine's decode loop (generation/generation-thread.ts). */
  generation: URL
}

/** The entries inside a compiled tree: `dist` is the folder that holds `server.js` (tsc keeps src/'s layout). */
export function threadEntriesIn(dist: URL): ThreadEntries {
  const base = dist.href.endsWith('/') ? dist : new URL(`${dist.href}/`)
  return {
    onnxruntime: new URL('backends/onnxruntime-thread.js', base),
    jsonCodec: new URL('kserve/json-codec-thread.js', base),
    faultyOnnxruntime: new URL('testing/faulty-onnx-thread.js', base),
    generation: new URL('generation/generation-thread.js', base),
  }
}

/** The entries beside this module: right wherever the worker runs compiled (`node dist/server.js`). */
export const COMPILED_THREAD_ENTRIES: ThreadEntries = threadEntriesIn(new URL('../', import.meta.url))
