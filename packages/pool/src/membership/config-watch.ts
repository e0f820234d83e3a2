import { statSync } from 'node:fs'
import { stat } from 'node:fs/promises'

/** Default poll interval of the config file. */
export const DEFAULT_WATCH_INTERVAL_MS = 2000
// Editors write in several steps: reload once the file has been quiet for a moment.
const QUIET_MS = 100

/**
 * Polls the pool's config file and calls `onChange` once it changed and has been quiet for a moment. The
 * baseline is taken synchronously when the watch starts (the config was just loaded): fs.watchFile takes its
 * baseline with an asynchronous first stat, so a write landing before that stat became the baseline and was
 * never reported (seen in CI with a busy thread pool).
 */
export class ConfigWatch {
  #poll: NodeJS.Timeout | null = null
  #quiet: NodeJS.Timeout | null = null

  /** Starts polling `path` every `intervalMs`. */
  start(path: string, intervalMs: number, onChange: () => void): void {
    this.stop()
    const initial = statSync(path, { throwIfNoEntry: false })
    let seen = initial ? `${initial.mtimeMs}:${initial.size}` : 'missing'
    let polling = false
    const poll = setInterval(() => {
      if (polling) return
      polling = true
      stat(path)
        .then(
          (now) => `${now.mtimeMs}:${now.size}`,
          () => 'missing',
        )
        .then((current) => {
          polling = false
          if (current === seen || this.#poll !== poll) return
          seen = current
          if (this.#quiet) clearTimeout(this.#quiet)
          this.#quiet = setTimeout(() => {
            this.#quiet = null
            onChange()
          }, QUIET_MS)
          this.#quiet.unref()
        })
    }, intervalMs)
    poll.unref()
    this.#poll = poll
  }

  /** Stops polling (a pending reload is dropped). */
  stop(): void {
    if (this.#quiet) clearTimeout(this.#quiet)
    if (this.#poll) clearInterval(this.#poll)
    this.#quiet = null
    this.#poll = null
  }
}
