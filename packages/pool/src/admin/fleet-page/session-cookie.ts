/** Name of the fleet page's session cookie. */
export const SESSION_COOKIE = 'npu_pool_session'

/** The session id in a `Cookie` header, or undefined. */
export function sessionIdFrom(cookieHeader: string | undefined): string | undefined {
  if (cookieHeader === undefined) return undefined
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=')
    if (eq !== -1 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim()
  }
  return undefined
}

/** Where and how the cookie is set. */
export interface CookieScope {
  /** The page's path: the cookie goes only to it and below (never to the bearer-only admin routes). */
  path: string
  /** Sent only over HTTPS. */
  secure: boolean
}

/**
 * The `Set-Cookie` value of a session: HttpOnly (no script reads it), SameSite=Strict (no other site's page
 * can make the browser send it: the CSRF defence), scoped to the page's path, expiring with the session.
 */
export function sessionCookie(id: string, maxAgeSeconds: number, scope: CookieScope): string {
  return [
    `${SESSION_COOKIE}=${id}`,
    `Path=${scope.path}`,
    `Max-Age=${maxAgeSeconds}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(scope.secure ? ['Secure'] : []),
  ].join('; ')
}

/** The `Set-Cookie` value that removes the session cookie (logout). */
export function clearedSessionCookie(scope: CookieScope): string {
  return sessionCookie('', 0, scope)
}
