/**
 * What the scheduler needs of a request's cancellation. An AbortSignal has it (gRPC passes one); the REST infer
 * route passes a {@link ClientGone}.
 */
export interface CancelSignal {
  readonly aborted: boolean
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: () => void): void
}

/**
 * The cancellation of one HTTP request, set when its client goes away, without an AbortController: Node's costs
 * about 8 µs per request (measured with one listener added and removed, as the queue does), a few percent of a
 * small inference's whole request. Each listener is called at most once, as with `{ once: true }`; one added
 * after the abort is never called, as with an AbortSignal. Code that wants a real AbortSignal (the task
 * pipelines) gets one that follows it from {@link ClientGone.asAbortSignal}.
 */
export class ClientGone implements CancelSignal {
  #aborted = false
  #listeners: Array<() => void> | null = null
  #controller: AbortController | null = null

  /** True once the client went away. */
  get aborted(): boolean {
    return this.#aborted
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.#aborted) return
    if (this.#listeners) this.#listeners.push(listener)
    else this.#listeners = [listener]
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const listeners = this.#listeners
    if (!listeners) return
    const index = listeners.indexOf(listener)
    if (index >= 0) listeners.splice(index, 1)
  }

  /** The client went away: calls every listener once (later calls do nothing). */
  abort(): void {
    if (this.#aborted) return
    this.#aborted = true
    const listeners = this.#listeners ?? []
    this.#listeners = null
    for (const listener of listeners) listener()
    this.#controller?.abort()
  }

  /** An AbortSignal aborted with this one (made on the first call). */
  asAbortSignal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController()
      if (this.#aborted) this.#controller.abort()
    }
    return this.#controller.signal
  }
}
