import { describe, expect, it } from 'vitest'
import { bearerTokenChecker } from '../src/index.js'

// One check for the worker's routes, its gRPC metadata and the pool's admin routes.
describe('bearerTokenChecker', () => {
  const check = bearerTokenChecker('s3cret-token-0123456789')

  it('accepts `Bearer <token>`: scheme case-insensitive, one or more spaces (RFC 6750 1*SP), trailing blanks', () => {
    for (const header of [
      'Bearer s3cret-token-0123456789',
      'bearer s3cret-token-0123456789',
      'BEARER   s3cret-token-0123456789',
      'Bearer\ts3cret-token-0123456789',
      'Bearer s3cret-token-0123456789 ',
    ]) {
      expect(check(header), header).toBe(true)
    }
  })

  it('rejects a missing header, other schemes, prefixes, extensions and extra parts', () => {
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      'Basic s3cret-token-0123456789',
      's3cret-token-0123456789',
      ' Bearer s3cret-token-0123456789',
      'Bearer s3cret-token-012345678',
      'Bearer s3cret-token-01234567890',
      'Bearer s3cret-token-0123456789 extra',
    ]) {
      expect(check(header), String(header)).toBe(false)
    }
  })
})
