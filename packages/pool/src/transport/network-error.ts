/** `ECONNREFUSED` → `connection refused (ECONNREFUSED)`; other errors keep their code or message. */
export function describeNetworkError(error: unknown): string {
  const err = error as { code?: string; message?: string; cause?: { code?: string } }
  const code = err.cause?.code ?? err.code
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED)'
    case 'ECONNRESET':
      return 'connection reset (ECONNRESET)'
    case 'UND_ERR_SOCKET':
      return 'connection closed by the worker (UND_ERR_SOCKET)'
    case 'ENOTFOUND':
      return 'host not found (ENOTFOUND)'
    case 'EHOSTUNREACH':
      return 'host unreachable (EHOSTUNREACH)'
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `connect timeout (${code})`
    default:
      return code ? `${err.message ?? 'network error'} (${code})` : (err.message ?? String(error))
  }
}
