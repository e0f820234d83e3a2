import { describe, expect, it } from 'vitest'
import { createTokenChecker, PUBLIC_ROUTES } from '../../src/plugins/auth.js'

describe('createTokenChecker', () => {
  const check = createTokenChecker('s3cret-token-0123456789')

  it('accepts exactly `Bearer <token>` (scheme case-insensitive)', () => {
    expect(check('Bearer s3cret-token-0123456789')).toBe(true)
    expect(check('bearer s3cret-token-0123456789')).toBe(true)
  })

  it('rejects a missing header, other schemes, prefixes, extensions and extra parts', () => {
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      'Basic s3cret-token-0123456789',
      's3cret-token-0123456789',
      'Bearer s3cret-token-012345678',
      'Bearer s3cret-token-01234567890',
      'Bearer s3cret-token-0123456789 extra',
      'Bearer  s3cret-token-0123456789',
    ]) {
      expect(check(header), String(header)).toBe(false)
    }
  })
})

describe('PUBLIC_ROUTES', () => {
  it('are the probes and the scrape endpoint only', () => {
    expect([...PUBLIC_ROUTES].sort()).toEqual(['/health', '/metrics', '/v2/health/live', '/v2/health/ready'])
  })
})
