import { createHash, timingSafeEqual } from 'node:crypto'

/** Shortest admin token accepted: anything shorter is guessable. */
export const MIN_TOKEN_LENGTH = 16

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest()

/**
 * Returns a checker for `Authorization: Bearer <token>` headers. Both sides are hashed to fixed-length
 * digests and compared with `timingSafeEqual`, so neither the token's content nor its length leaks through
 * response timing.
 */
export function bearerTokenChecker(token: string): (authorization: string | undefined) => boolean {
  const expected = digest(token)
  return (authorization) => {
    if (typeof authorization !== 'string') return false
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)
    if (match === null) return false
    return timingSafeEqual(digest(match[1] as string), expected)
  }
}
