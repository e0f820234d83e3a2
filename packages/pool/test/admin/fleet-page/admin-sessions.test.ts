import { describe, expect, it } from 'vitest'
import { AdminSessions } from '../../../src/admin/fleet-page/admin-sessions.js'
import {
  clearedSessionCookie,
  sessionCookie,
  sessionIdFrom,
} from '../../../src/admin/fleet-page/session-cookie.js'

// The fleet page's sessions and cookie, with a clock the test moves.

function clock(start = 1_000_000) {
  let now = start
  return { now: () => now, advance: (ms: number) => (now += ms) }
}

describe('AdminSessions', () => {
  it('gives random 256-bit ids that are valid until their expiry, not a millisecond later', () => {
    const time = clock()
    const sessions = new AdminSessions({ ttlMs: 60_000, now: time.now })
    const a = sessions.create()
    const b = sessions.create()
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(a.id).not.toBe(b.id)
    expect(a.expiresAt).toBe(1_060_000)
    time.advance(59_999)
    expect(sessions.valid(a.id)).toBe(true)
    time.advance(1)
    expect(sessions.valid(a.id)).toBe(false)
    expect(sessions.size).toBe(0)
  })

  it('does not slide: using a session does not extend it', () => {
    const time = clock()
    const sessions = new AdminSessions({ ttlMs: 10_000, now: time.now })
    const { id } = sessions.create()
    for (let i = 0; i < 9; i++) {
      time.advance(1000)
      expect(sessions.valid(id)).toBe(true)
    }
    time.advance(1000)
    expect(sessions.valid(id)).toBe(false)
  })

  it('refuses revoked, unknown, empty and oversized ids', () => {
    const sessions = new AdminSessions({ ttlMs: 60_000 })
    const { id } = sessions.create()
    sessions.revoke(id)
    expect(sessions.valid(id)).toBe(false)
    for (const bad of [undefined, '', 'x'.repeat(129), `${id.slice(0, -1)}A`])
      expect(sessions.valid(bad)).toBe(false)
  })

  it('keeps at most maxSessions, dropping the oldest first', () => {
    const sessions = new AdminSessions({ ttlMs: 60_000, maxSessions: 3 })
    const ids = Array.from({ length: 5 }, () => sessions.create().id)
    expect(sessions.size).toBe(3)
    expect(ids.map((id) => sessions.valid(id))).toEqual([false, false, true, true, true])
  })
})

describe('the session cookie', () => {
  it('is HttpOnly, SameSite=Strict, scoped to the page, Secure only when asked', () => {
    expect(sessionCookie('abc', 600, { path: '/api/npu/pool/fleet', secure: false })).toBe(
      'npu_pool_session=abc; Path=/api/npu/pool/fleet; Max-Age=600; HttpOnly; SameSite=Strict',
    )
    expect(sessionCookie('abc', 600, { path: '/p', secure: true })).toMatch(/; Secure$/)
    expect(clearedSessionCookie({ path: '/p', secure: false })).toBe(
      'npu_pool_session=; Path=/p; Max-Age=0; HttpOnly; SameSite=Strict',
    )
  })

  it('is found among other cookies, and nothing else passes for it', () => {
    expect(sessionIdFrom('a=1; npu_pool_session=xyz; b=2')).toBe('xyz')
    expect(sessionIdFrom('npu_pool_session=xyz')).toBe('xyz')
    expect(sessionIdFrom('x_npu_pool_session=xyz')).toBeUndefined()
    expect(sessionIdFrom(undefined)).toBeUndefined()
    expect(sessionIdFrom('')).toBeUndefined()
  })
})
