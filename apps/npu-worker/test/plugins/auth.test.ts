import { describe, expect, it } from 'vitest'
import { PUBLIC_ROUTES } from '../../src/plugins/auth.js'

describe('PUBLIC_ROUTES', () => {
  it('are the probes and the scrape endpoint only', () => {
    expect([...PUBLIC_ROUTES].sort()).toEqual(['/health', '/metrics', '/v2/health/live', '/v2/health/ready'])
  })
})
