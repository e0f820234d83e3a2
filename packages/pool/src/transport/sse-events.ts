/**
 * The `data:` payloads of a server-sent-events body, in order, as the bytes arrive (WHATWG's parsing rules for
 * the part OpenAI streams use: `data:` lines joined by newlines, an empty line ends the event, `:` comments
 * and other fields ignored, CRLF or LF). Decoding is incremental, so a character split across chunks stays whole.
 */
export async function* sseData(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  const decoder = new TextDecoder()
  let buffer = ''
  let data: string[] = []
  for await (const bytes of body) {
    buffer += typeof bytes === 'string' ? bytes : decoder.decode(bytes, { stream: true })
    let start = 0
    for (;;) {
      const end = buffer.indexOf('\n', start)
      if (end < 0) break
      const line = buffer.charCodeAt(end - 1) === 13 ? buffer.slice(start, end - 1) : buffer.slice(start, end)
      start = end + 1
      if (line === '') {
        if (data.length > 0) yield data.length === 1 ? (data[0] as string) : data.join('\n')
        data = []
      } else if (line.startsWith('data:')) {
        data.push(line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5))
      }
    }
    buffer = buffer.slice(start)
  }
}
