// Messages between the engine (main thread) and its generation thread. Plain data only: they cross
// postMessage by structured clone.
import type { PriorityOutcome } from '../backends/thread-priority.js'
import type { GenerationFiles } from './generation-files.js'
import type { ResolvedParameters } from './generation-parameters.js'
import type { FinishReason, GenerationErrorCode, GenerationInput, GenerationUsage } from './text-generator.js'

/** Test-only faults the thread injects (the worker's `test_hooks`); absent in production. */
export interface GenerationFaults {
  /** Before this step (1-based, counted over the thread's life) the thread blocks as a hung native call would. */
  hangAtStep?: number
  /** The hang lasts until another thread stores a non-zero value at index 0 of this (Int32Array) buffer. */
  hangRelease?: SharedArrayBuffer
  /** Before this step an uncaught error takes the thread down, as a crashing native call would. */
  crashAtStep?: number
}

/** What the engine passes as `workerData`. */
export interface GenerationThreadData {
  files: GenerationFiles
  /** ONNX Runtime intra-op threads of the session. */
  threads: number
  /** From model.yaml; null = config.json's `max_position_embeddings`. */
  contextLength: number | null
  maxSequences: number
  defaultMaxTokens: number
  prefillChunkTokens: number
  /**
   * Int32Array over it: the engine stores 1 at index 0 when it abandons this thread (a step overran its
   * limit). The thread reads it after every step and then exits on its own: never terminated inside
   * `session.run`, which would abort the process.
   */
  abandoned: SharedArrayBuffer
  faults: GenerationFaults | null
}

/** Engine -> thread. */
export type GenerationThreadRequest =
  | { type: 'start'; id: number; input: GenerationInput; parameters: ResolvedParameters }
  | { type: 'cancel'; id: number }
  | { type: 'close' }

/** What happened to one sequence in a step. */
export type SequenceEvent =
  /** The prompt is tokenized and the sequence waits for its prefill. */
  | { id: number; kind: 'started'; promptTokens: number }
  /** New final text (never half a character, never part of a stop string); `generated`: tokens so far. */
  | { id: number; kind: 'chunk'; text: string; generated: number }
  /** The sequence ended; its slot is free. */
  | { id: number; kind: 'done'; finishReason: FinishReason; usage: GenerationUsage }
  /** The sequence failed before or while generating; its slot is free. */
  | { id: number; kind: 'error'; code: GenerationErrorCode; message: string; field: string | null }

/** The model's limits, as the thread resolved them. */
export interface ThreadLimits {
  contextLength: number
  vocabSize: number
}

/** Thread -> engine. */
export type GenerationThreadReply =
  | { type: 'ready'; limits: ThreadLimits; priority: PriorityOutcome }
  | { type: 'load-error'; message: string }
  /**
   * The events of one or more model runs (event-outbox.ts: after every run, or a few fast runs together, and at
   * least every STREAM_INTERVAL_MS while runs go on; the engine's watchdog counts each as progress), with the
   * answers to `start`/`cancel` requests among them (a refused start or a cancellation at once).
   */
  | { type: 'step'; events: SequenceEvent[] }
