// Build step (`node scripts/compile-wasm.mjs`, after tsc): compiles the WebAssembly text sources of src/ to
// generated/*.wasm with wabt (wat2wasm in JS: no native build), so the binary is always the committed source's.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import wabtModule from 'wabt'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const sources = ['src/kserve/float32-scanner.wat']

const wabt = await wabtModule()
mkdirSync(join(root, 'generated'), { recursive: true })
for (const source of sources) {
  const module = wabt.parseWat(source, readFileSync(join(root, source), 'utf8'), { simd: true })
  try {
    module.validate()
    const { buffer } = module.toBinary({})
    const name = source.replace(/^.*\//, '').replace(/\.wat$/, '.wasm')
    writeFileSync(join(root, 'generated', name), buffer)
  } finally {
    module.destroy()
  }
}
