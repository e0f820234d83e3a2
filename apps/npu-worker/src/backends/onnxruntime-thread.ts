// worker_threads entry: one ONNX Runtime InferenceSession per thread (onnxruntime-session.ts).
// The thread lowers its priority before it loads anything else: loading ONNX Runtime's addon and the service
// costs a starting thread tens of milliseconds of CPU, which at the inherited priority the event loop shares
// with it (a second instance starting under load held /health for ~100 ms on one core). Hence the imports
// after the call, not above it (static imports are all loaded before a module's first line runs).
import { lowerThreadPriority } from './thread-priority.js'

lowerThreadPriority()
const [{ serveThread }, { createOnnxSessionService }] = await Promise.all([
  import('../threads/thread-service.js'),
  import('./onnxruntime-session.js'),
])
serveThread(createOnnxSessionService)
