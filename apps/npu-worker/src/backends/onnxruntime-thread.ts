// worker_threads entry: one ONNX Runtime InferenceSession per thread (onnxruntime-session.ts).
import { serveThread } from '../threads/thread-service.js'
import { createOnnxSessionService } from './onnxruntime-session.js'

serveThread(createOnnxSessionService)
