import { createHash, randomBytes } from 'node:crypto'

/** Options of {@link AdminSessions}. */
export interface AdminSessionsOptions {
  /** How long a session lasts from login (ms); it does not slide. */
  ttlMs: number
  /** Sessions kept at most; the oldest goes first (only a right token creates one, so this bounds memory). */
  maxSessions?: number
  /** Clock (tests). */
  now?: () => number
}

/** A session just created: its id goes into the cookie, once. */
export interface NewSession {
  id: string
  expiresAt: number
}

const digest = (id: string) => createHash('sha256').update(id, 'utf8').digest('base64url')

/**
 * The fleet page's login sessions, in memory: a random 256-bit id per login, valid until its expiry or
 * logout. Ids are kept only as SHA-256 digests and looked up by digest, so neither a heap dump nor the timing
 * of a lookup gives a usable id away. Sessions end with the process (a restart means logging in again).
 */
export class AdminSessions {
  readonly #byDigest = new Map<string, number>()
  readonly #ttlMs: number
  readonly #max: number
  readonly #now: () => number

  constructor(options: AdminSessionsOptions) {
    this.#ttlMs = options.ttlMs
    this.#max = options.maxSessions ?? 1000
    this.#now = options.now ?? Date.now
  }

  /** Sessions alive now. */
  get size(): number {
    this.#sweep()
    return this.#byDigest.size
  }

  /** Seconds a session lasts (the cookie's Max-Age). */
  get ttlSeconds(): number {
    return Math.floor(this.#ttlMs / 1000)
  }

  /** Starts a session (after a right token). */
  create(): NewSession {
    this.#sweep()
    while (this.#byDigest.size >= this.#max) {
      const oldest = this.#byDigest.keys().next().value as string
      this.#byDigest.delete(oldest)
    }
    const id = randomBytes(32).toString('base64url')
    const expiresAt = this.#now() + this.#ttlMs
    this.#byDigest.set(digest(id), expiresAt)
    return { id, expiresAt }
  }

  /** True while `id` names a session that has not expired or been revoked. */
  valid(id: string | undefined): boolean {
    if (id === undefined || id.length === 0 || id.length > 128) return false
    const key = digest(id)
    const expiresAt = this.#byDigest.get(key)
    if (expiresAt === undefined) return false
    if (expiresAt <= this.#now()) {
      this.#byDigest.delete(key)
      return false
    }
    return true
  }

  /** Ends a session (logout). */
  revoke(id: string | undefined): void {
    if (id !== undefined) this.#byDigest.delete(digest(id))
  }

  #sweep(): void {
    const now = this.#now()
    for (const [key, expiresAt] of this.#byDigest) if (expiresAt <= now) this.#byDigest.delete(key)
  }
}
