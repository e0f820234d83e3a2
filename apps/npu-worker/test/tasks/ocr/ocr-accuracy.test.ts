// Accuracy of the whole OCR pipeline on the real PP-OCR models (ONNX Runtime, in worker threads like the
// worker runs them) over rendered images of known text. Needs the compiled thread entry: build first.
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createOcrPipeline } from '../../../src/tasks/ocr/ocr-pipeline.js'
import { readingRows } from '../../../src/tasks/ocr/reading-order.js'
import { accuracyCorpus, editDistance } from './accuracy-corpus.js'
import { loadOcrModels, type OcrModels } from './ocr-models-context.js'
import { renderTextImage } from './text-image.js'

/** The page text as a reader sees it: boxes of one row joined by a space, rows by a newline. */
function pageText(lines: readonly { text: string; box: [number, number][] }[]): string {
  return readingRows(lines as { text: string; box: never }[])
    .map((row) => row.map((line) => line.text).join(' '))
    .join('\n')
}

let models: OcrModels
const pipeline = createOcrPipeline()

beforeAll(async () => {
  models = await loadOcrModels()
})
afterAll(async () => {
  await models?.close()
})

describe('OCR accuracy on rendered text', () => {
  const corpus = accuracyCorpus()

  it(`reads ${corpus.length} images: exact clean single lines, >= 95% character accuracy overall`, async () => {
    expect(corpus.length).toBeGreaterThanOrEqual(40)
    const images = await Promise.all(corpus.map((c) => renderTextImage(c)))
    let edits = 0
    let characters = 0
    const wrongLines: string[] = []
    const misses: string[] = []
    for (const [i, c] of corpus.entries()) {
      const { result } = await pipeline.run({ image: images[i]!.toString('base64') }, models.context())
      const read = pageText(result.lines)
      const expected = c.lines.join('\n')
      const errors = editDistance(read, expected)
      edits += errors
      characters += [...expected].length
      if (errors > 0) misses.push(`  ${c.name}: ${JSON.stringify(read)} (${errors} edits)`)
      if (c.exact && read !== expected) wrongLines.push(`${c.name}: read ${JSON.stringify(read)}`)
    }
    const accuracy = 1 - edits / characters
    console.log(
      `OCR character accuracy (1 - CER): ${(accuracy * 100).toFixed(2)}% over ${corpus.length} images, ` +
        `${characters} characters, ${edits} edits; exact single lines: ` +
        `${corpus.filter((c) => c.exact).length - wrongLines.length}/${corpus.filter((c) => c.exact).length}` +
        (misses.length > 0 ? `\nimperfect readings:\n${misses.join('\n')}` : ''),
    )
    expect(wrongLines).toEqual([])
    expect(accuracy).toBeGreaterThanOrEqual(0.95)
  })

  it('reads upside-down lines with the angle classifier, and not without it', async () => {
    const texts = ['Invoice number 48213', 'Press the green button', 'Warehouse 7 stock']
    for (const [i, text] of texts.entries()) {
      const image = await renderTextImage({
        lines: [text],
        font: `${['DejaVu Sans', 'Liberation Serif', 'DejaVu Sans Mono'][i]} 24`,
        foreground: '#000000',
        background: '#ffffff',
        rotate: 180,
      })
      const turned = await pipeline.run({ image, use_angle_classifier: true }, models.context())
      expect(pageText(turned.result.lines)).toBe(text)
      const plain = await pipeline.run({ image }, models.context())
      expect(pageText(plain.result.lines)).not.toBe(text)
    }
  })

  it('reads an upside-down page in its own reading order', async () => {
    const lines = ['First line on top', 'Second line 2', 'Last line 3']
    const image = await renderTextImage({
      lines,
      font: 'Liberation Sans 22',
      foreground: '#f0f0f0',
      background: '#1a2a4a',
      rotate: 180,
    })
    const { result } = await pipeline.run({ image, use_angle_classifier: true }, models.context())
    expect(result.lines.map((l) => l.text)).toEqual(lines)
  })

  it('applies the EXIF orientation of a JPEG', async () => {
    const upright = await renderTextImage({
      lines: ['Rotated by EXIF 6'],
      font: 'DejaVu Sans 24',
      foreground: '#000000',
      background: '#ffffff',
    })
    const meta = await sharp(upright).metadata()
    // Pixels stored turned 90 degrees counter-clockwise; orientation 6 tells viewers to turn them back.
    const stored = await sharp(upright)
      .rotate(270)
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer()
    expect((await sharp(stored).metadata()).orientation).toBe(6)
    const { result } = await pipeline.run({ image: stored }, models.context())
    expect(result).toMatchObject({ width: meta.width, height: meta.height })
    expect(pageText(result.lines)).toBe('Rotated by EXIF 6')
  })
})
