import sharp from 'sharp'

/** How to render one test image of known text. */
export interface TextImageSpec {
  /** Lines of text, top to bottom. */
  lines: readonly string[]
  /** Pango font description, e.g. `DejaVu Sans 20` (points at 96 dpi). */
  font: string
  /** Text and background colours (CSS hex). */
  foreground: string
  background: string
  /** Margin around the text block, in pixels. */
  margin?: number
  /** Line height in points (sharp's `spacing`); default: the font's own. */
  lineHeight?: number
  /** Degrees to rotate the finished image (multiples of 90; 180 = upside down). */
  rotate?: number
  format?: 'png' | 'jpeg' | 'webp'
}

/** Escapes text for Pango markup. */
function markup(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/**
 * Renders known text with sharp's Pango text input and composes it onto a solid background: the ground truth
 * for the accuracy tests. Returns the encoded image.
 */
export async function renderTextImage(spec: TextImageSpec): Promise<Buffer> {
  const margin = spec.margin ?? 24
  const text = spec.lines.map(markup).join('\n')
  const rendered = await sharp({
    text: {
      text: `<span foreground="${spec.foreground}">${text}</span>`,
      font: spec.font,
      dpi: 96,
      rgba: true,
      ...(spec.lineHeight ? { spacing: spec.lineHeight } : {}),
    },
  })
    .png()
    .toBuffer({ resolveWithObject: true })
  const page = sharp({
    create: {
      width: rendered.info.width + 2 * margin,
      height: rendered.info.height + 2 * margin,
      channels: 3,
      background: spec.background,
    },
  }).composite([{ input: rendered.data, left: margin, top: margin }])
  let image = sharp(await page.png().toBuffer())
  if (spec.rotate) image = image.rotate(spec.rotate)
  const format = spec.format ?? 'png'
  if (format === 'jpeg') return image.jpeg({ quality: 90 }).toBuffer()
  if (format === 'webp') return image.webp({ quality: 90 }).toBuffer()
  return image.png().toBuffer()
}
