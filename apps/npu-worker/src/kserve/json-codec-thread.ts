// worker_threads entry: the JSON codec thread (json-codec-service.ts), started when big JSON bodies arrive,
// so under load. It lowers its priority before it loads its service (the schema, the scanner's WebAssembly),
// as the inference threads do (backends/onnxruntime-thread.ts says why): hence the imports after the call.
import { lowerThreadPriority } from '../backends/thread-priority.js'

lowerThreadPriority()
const [{ serveThread }, { createJsonCodecService }] = await Promise.all([
  import('../threads/thread-service.js'),
  import('./json-codec-service.js'),
])
serveThread(createJsonCodecService)
