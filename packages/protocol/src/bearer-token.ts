import { createHash, timingSafeEqual } from 'node:crypto'

/** Shortest bearer token either side accepts in its config: anything shorter is guessable. */
export const MIN_TOKEN_LENGTH = 16

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest()

// RFC 6750: "Bearer" 1*SP token. Tabs and trailing blanks are tolerated (HTTP strips optional whitespace, gRPC
// metadata does not).
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i

/**
 * Returns a checker for an `Authorization: Bearer <token>` value (an HTTP header or gRPC metadata). Both sides
 * are hashed to fixed-length digests and compared with `timingSafeEqual`, so neither the token's content nor
 * its length leaks through response timing.
 */
export function bearerTokenChecker(token: string): (authorization: string | undefined) => boolean {
  const expected = digest(token)
  return (authorization) => {
    if (typeof authorization !== 'string') return false
    const match = BEARER.exec(authorization)
    if (match === null) return false
    return timingSafeEqual(digest(match[1] as string), expected)
  }
}
