import { describe, expect, it } from 'vitest'
import { Lifecycle } from '../../src/plugins/lifecycle.js'

describe('Lifecycle', () => {
  it('goes starting -> serving -> draining', () => {
    const lifecycle = new Lifecycle()
    expect(lifecycle.state).toBe('starting')
    lifecycle.markServing()
    expect(lifecycle.state).toBe('serving')
    lifecycle.markDraining()
    expect(lifecycle.state).toBe('draining')
  })

  it('never returns to serving once draining (models that finish loading during shutdown)', () => {
    const lifecycle = new Lifecycle()
    lifecycle.markDraining()
    lifecycle.markServing()
    expect(lifecycle.state).toBe('draining')
  })

  it('reports a non-negative uptime', () => {
    expect(new Lifecycle().uptimeSeconds).toBeGreaterThanOrEqual(0)
  })
})
