#!/usr/bin/env node
// Renders a line of text to a PNG (black on white) for trying the OCR task:
//   node scripts/render-text.mjs "Hello NPU fleet 2026" /tmp/hello.png
import { createRequire } from 'node:module'

const require = createRequire(new URL('../apps/npu-worker/package.json', import.meta.url))
const sharp = require('sharp')
const [text = 'Hello NPU fleet 2026', out = 'text.png'] = process.argv.slice(2)
const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
await sharp({
  text: { text: `<span foreground="black">${escaped}</span>`, font: 'sans 32', dpi: 96, rgba: true },
})
  .flatten({ background: '#ffffff' })
  .extend({ top: 24, bottom: 24, left: 24, right: 24, background: '#ffffff' })
  .png()
  .toFile(out)
console.log(out)
