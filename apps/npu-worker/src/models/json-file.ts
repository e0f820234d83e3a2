import { readFileSync } from 'node:fs'

// Model assets (tokenizer.json, tokenizer_config.json, config.json...) are read through one function, so every
// unreadable or malformed file is reported the same way, with its path.

/** Reads and parses a JSON file; throws with the path in the message. */
export function readJsonFile(path: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new Error(
      `${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    )
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new Error(`${path}: not valid JSON: ${(error as Error).message}`)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new Error(`${path}: not a JSON object`)
  return json as Record<string, unknown>
}
