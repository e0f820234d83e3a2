import type {
  GenerationChunk,
  GenerationInput,
  GenerationParameters,
  GenerationResult,
  TextGenerator,
} from './text-generator.js'

/** A generation as an async iterable of its chunks, plus its final result. */
export interface GenerationStream extends AsyncIterable<GenerationChunk> {
  /** Settles when the generation ends: the same result `generate` resolves (cancelled when iteration stopped early). */
  readonly result: Promise<GenerationResult>
}

/**
 * Streams any {@link TextGenerator}: `for await (const chunk of streamGeneration(...))`. Leaving the loop early
 * (`break`, a thrown error) cancels the generation at its next step; an aborted `signal` does the same. A
 * failed generation makes the iteration throw its error. One stream is iterated once.
 */
export function streamGeneration(
  generator: TextGenerator,
  input: GenerationInput,
  parameters: GenerationParameters,
  options: { signal?: AbortSignal } = {},
): GenerationStream {
  const controller = new AbortController()
  const outer = options.signal
  const forward = () => controller.abort(outer?.reason)
  if (outer?.aborted) forward()
  else outer?.addEventListener('abort', forward, { once: true })

  const chunks: GenerationChunk[] = []
  let ended = false
  let failure: unknown = null
  let wake: (() => void) | null = null
  const notify = () => {
    wake?.()
    wake = null
  }
  const result = generator.generate(input, parameters, {
    signal: controller.signal,
    onChunk: (chunk) => {
      chunks.push(chunk)
      notify()
    },
  })
  result.then(
    () => {
      ended = true
      notify()
    },
    (error: unknown) => {
      ended = true
      failure = error
      notify()
    },
  )
  // The caller may never read `result`; a failure then surfaces through the iteration only.
  result.catch(() => {})
  const finished = result.finally(() => outer?.removeEventListener('abort', forward))
  finished.catch(() => {})

  return {
    result,
    [Symbol.asyncIterator](): AsyncIterator<GenerationChunk> {
      return {
        async next(): Promise<IteratorResult<GenerationChunk>> {
          for (;;) {
            const chunk = chunks.shift()
            if (chunk) return { value: chunk, done: false }
            if (ended) {
              if (failure !== null) throw failure
              return { value: undefined, done: true }
            }
            await new Promise<void>((resolve) => {
              wake = resolve
            })
          }
        },
        async return(): Promise<IteratorResult<GenerationChunk>> {
          controller.abort(new Error('the stream was closed before the generation ended'))
          await result.catch(() => {})
          return { value: undefined, done: true }
        },
      }
    },
  }
}
