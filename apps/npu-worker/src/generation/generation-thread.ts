// worker_threads entry of the generation engine: one ONNX Runtime session, the tokenizer, and the whole
// decode loop (prefill, batched decode steps, sampling, detokenization, stop strings). `session.run` is
// synchronous native code that blocks its event loop, so none of this ever runs on the server's main thread.
import { setImmediate as yieldToMessages } from 'node:timers/promises'
import { parentPort, workerData } from 'node:worker_threads'
import ort from 'onnxruntime-node'
import {
  atInheritedPriority,
  lowerThreadPriority,
  threadPriorityOutcome,
} from '../backends/thread-priority.js'
import { ContinuousBatcher } from './continuous-batcher.js'
import { readDecoderLayout, type ValueMetadata } from './decoder-layout.js'
import { EventOutbox } from './event-outbox.js'
import { GenerationSequence } from './generation-sequence.js'
import type {
  GenerationThreadData,
  GenerationThreadReply,
  GenerationThreadRequest,
  SequenceEvent,
} from './generation-thread-protocol.js'
import { encodePrompt, type LanguageModelAssets, loadLanguageModelAssets } from './language-model-assets.js'
import { OnnxDecoderRunner } from './onnx-decoder-runner.js'
import { GenerationError } from './text-generator.js'

/** Steps between explicit turns of the thread's event loop. */
const YIELD_EVERY_STEPS = 16

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** Tokens a call may generate: its `max_tokens` (or the default, clipped), within the context. */
function answerBudget(
  promptTokens: number,
  requested: number | null,
  data: GenerationThreadData,
  contextLength: number,
  promptField: 'messages' | 'prompt',
): number {
  const room = contextLength - promptTokens
  if (room < 1) {
    throw new GenerationError(
      'context_length_exceeded',
      `${promptField}: the prompt has ${promptTokens} tokens; the model's context length is ${contextLength}`,
      promptField,
    )
  }
  if (requested === null) return Math.min(data.defaultMaxTokens, room)
  if (requested > room) {
    throw new GenerationError(
      'context_length_exceeded',
      `max_tokens: the prompt has ${promptTokens} tokens and the context length is ${contextLength}, so at most ${room} can be generated, not ${requested}`,
      'max_tokens',
    )
  }
  return requested
}

async function main(port: NonNullable<typeof parentPort>, data: GenerationThreadData): Promise<void> {
  // Before the session exists, so ONNX Runtime's own intra-op threads inherit the lower priority.
  lowerThreadPriority()
  const abandoned = new Int32Array(data.abandoned)
  // At the event loop's priority: a lowered thread must not hold the loop's port locked (thread-priority.ts).
  const post = (reply: GenerationThreadReply) => atInheritedPriority(() => port.postMessage(reply))
  let session: ort.InferenceSession
  let assets: LanguageModelAssets
  let batcher: ContinuousBatcher
  try {
    assets = loadLanguageModelAssets(data.files, data.contextLength)
    session = await ort.InferenceSession.create(data.files.model, {
      intraOpNumThreads: data.threads,
      interOpNumThreads: 1,
    })
    const layout = readDecoderLayout(
      session.inputMetadata as readonly ValueMetadata[],
      session.outputMetadata as readonly ValueMetadata[],
      assets.config,
    )
    batcher = new ContinuousBatcher(new OnnxDecoderRunner(session, layout), data.prefillChunkTokens)
    const logits = (session.outputMetadata as readonly ValueMetadata[]).find((o) => o.name === 'logits')
    const vocab =
      typeof logits?.shape[2] === 'number' ? logits.shape[2] : Number(assets.config.vocab_size ?? 0)
    post({
      type: 'ready',
      limits: { contextLength: assets.contextLength, vocabSize: vocab },
      priority: threadPriorityOutcome(),
    })
  } catch (error) {
    post({ type: 'load-error', message: messageOf(error) })
    port.close()
    return
  }

  const model = {
    createDetokenizer: (promptIds: readonly number[]) => assets.tokenizer.createDetokenizer(promptIds),
    eosIds: assets.eosIds,
    contextLength: assets.contextLength,
  }
  const outbox = new EventOutbox((events) => post({ type: 'step', events }))
  let steps = 0
  let looping = false
  let closing = false
  // Requests wait here until the step in progress ends: the batch must not change inside a model run.
  const pending: GenerationThreadRequest[] = []

  const apply = (request: GenerationThreadRequest, events: SequenceEvent[]) => {
    if (request.type === 'cancel') {
      batcher.cancel(request.id, events)
      return
    }
    if (request.type !== 'start') return
    try {
      const promptIds = encodePrompt(assets, request.input)
      const field = request.input.kind === 'chat' ? 'messages' : 'prompt'
      const budget = answerBudget(
        promptIds.length,
        request.parameters.maxTokens,
        data,
        assets.contextLength,
        field,
      )
      batcher.add(new GenerationSequence(request.id, promptIds, budget, request.parameters, model))
      events.push({ id: request.id, kind: 'started', promptTokens: promptIds.length })
    } catch (error) {
      const known = error instanceof GenerationError
      events.push({
        id: request.id,
        kind: 'error',
        code: known ? error.code : 'engine_failed',
        message: messageOf(error),
        field: known ? error.field : null,
      })
    }
  }

  /**
   * Applies waiting requests and runs steps while there is work; the events go through the outbox (posted
   * after each step, or a few fast steps' together).
   */
  const loop = async () => {
    if (looping) return
    looping = true
    for (;;) {
      if (pending.length > 0) {
        const events: SequenceEvent[] = []
        for (const request of pending.splice(0)) apply(request, events)
        outbox.add(events, 0)
      }
      if (closing || batcher.size === 0) break
      steps++
      if (data.faults?.hangAtStep === steps) hang(data.faults.hangRelease)
      if (data.faults?.crashAtStep === steps) await crash()
      const startedAt = performance.now()
      const events = await batcher.step()
      // The engine gave up on this thread while the step ran: exit on our own, posting nothing more.
      if (Atomics.load(abandoned, 0) !== 0) {
        closing = true
        break
      }
      outbox.add(events, performance.now() - startedAt)
      // onnxruntime-node's run already waits for a setImmediate, so messages arrive between steps; an
      // explicit turn of the event loop now and then keeps that true whatever the runner does.
      if (steps % YIELD_EVERY_STEPS === 0) await yieldToMessages()
    }
    looping = false
    if (outbox.holding && !closing) outbox.flush()
    if (closing) {
      await session.release()
      port.close()
    }
  }

  port.on('message', (request: GenerationThreadRequest) => {
    if (closing) return
    if (request.type === 'close') closing = true
    else pending.push(request)
    void loop()
  })
}

/** Test fault: an uncaught error takes the thread down (its `error` and `exit` events), as a native crash would. */
function crash(): Promise<never> {
  setImmediate(() => {
    throw new Error('injected generation-thread crash (test fault)')
  })
  return new Promise<never>(() => {})
}

/** Test fault: block this thread the way a native call that never returns does, until released. */
function hang(release: SharedArrayBuffer | undefined): void {
  const flag = new Int32Array(release ?? new SharedArrayBuffer(4))
  while (Atomics.load(flag, 0) === 0) Atomics.wait(flag, 0, 0, 1000)
}

if (parentPort) void main(parentPort, workerData as GenerationThreadData)
