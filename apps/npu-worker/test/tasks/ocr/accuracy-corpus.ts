import type { TextImageSpec } from './text-image.js'

/** One accuracy case: an image spec whose `lines` are the expected text, and whether it must be exact. */
export interface AccuracyCase extends TextImageSpec {
  name: string
  /** Clean single lines must come back exactly; the rest count toward the character accuracy. */
  exact: boolean
}

const FONTS = [
  'DejaVu Sans',
  'DejaVu Serif',
  'DejaVu Sans Mono',
  'Liberation Sans',
  'Liberation Serif',
] as const

/** Foreground on background: three light pages, three dark ones. */
const SCHEMES = [
  { foreground: '#000000', background: '#ffffff' },
  { foreground: '#1a1a1a', background: '#f5f0e0' },
  { foreground: '#202060', background: '#dde4ee' },
  { foreground: '#ffffff', background: '#000000' },
  { foreground: '#e8e8e8', background: '#202830' },
  { foreground: '#ffd060', background: '#1a2a4a' },
] as const

const SINGLE_LINES = [
  'Hello World 2026',
  'The quick brown fox jumps over the lazy dog',
  'Invoice number 48213 due on 2026-03-15',
  'Total amount: 1249.50 EUR',
  'Meeting room B12 at 10:30',
  'Temperature sensor reads 21.5 C',
  'Order shipped to 742 Evergreen Terrace',
  'Please call support at 555 0199',
  'Version 3.14 released today',
  'Warehouse stock level is low',
  'Press the green button to continue',
  'Battery at 87 percent',
] as const

const PARAGRAPHS = [
  ['Monthly report', 'Revenue grew by 12 percent', 'Costs stayed flat'],
  ['Shipping address', '221B Baker Street', 'London NW1 6XE'],
  ['Error code 503', 'Service unavailable', 'Retry after 60 seconds'],
  ['Name: Ada Lovelace', 'Born: 10 December 1815'],
  ['Step 1: open the lid', 'Step 2: insert the filter', 'Step 3: close the lid', 'Step 4: press start'],
  ['Apples 3.20', 'Bread 2.45', 'Milk 1.09'],
] as const

const SIZES = [13, 16, 20, 28, 40] as const

/**
 * The accuracy set: every single line in two font/size/colour combinations (24 clean lines, exact), and every
 * paragraph in three (18 multi-line pages), four pages with tight leading, cycling through 5 fonts, 5 sizes
 * (13 to 40 px) and 6 colour schemes (half of them dark), PNG with some JPEG and WebP. Deterministic: the
 * same 46 images every run.
 */
export function accuracyCorpus(): AccuracyCase[] {
  const cases: AccuracyCase[] = []
  let k = 0
  const formats = ['png', 'png', 'jpeg', 'png', 'webp'] as const
  for (const [i, text] of SINGLE_LINES.entries()) {
    for (let variant = 0; variant < 2; variant++, k++) {
      const font = FONTS[(i + variant * 2) % FONTS.length]!
      const size = SIZES[(i * 2 + variant) % SIZES.length]!
      const scheme = SCHEMES[(i + variant * 3) % SCHEMES.length]!
      cases.push({
        name: `line ${i}.${variant}: ${font} ${size}px on ${scheme.background}`,
        lines: [text],
        font: `${font} ${size}`,
        ...scheme,
        format: formats[k % formats.length]!,
        exact: true,
      })
    }
  }
  for (const [i, lines] of PARAGRAPHS.entries()) {
    for (let variant = 0; variant < 3; variant++, k++) {
      const font = FONTS[(i + variant) % FONTS.length]!
      const size = SIZES[(i + variant * 2) % SIZES.length]!
      const scheme = SCHEMES[(i * 2 + variant) % SCHEMES.length]!
      cases.push({
        name: `page ${i}.${variant}: ${font} ${size}px on ${scheme.background}`,
        lines,
        font: `${font} ${size}`,
        ...scheme,
        format: formats[k % formats.length]!,
        exact: false,
      })
    }
  }
  // Tight leading (line height = font size): neighbouring lines reach into each line's crop margin.
  for (const [i, lines] of PARAGRAPHS.slice(0, 4).entries()) {
    const size = SIZES[(i + 1) % SIZES.length]!
    cases.push({
      name: `tight page ${i}: ${FONTS[i]!} ${size}px, line height ${size}`,
      lines,
      font: `${FONTS[i]!} ${size}`,
      lineHeight: size,
      ...SCHEMES[(i * 3) % SCHEMES.length]!,
      format: 'png',
      exact: false,
    })
  }
  return cases
}

/** Levenshtein distance between two strings, by code point: the character errors of a reading. */
export function editDistance(actual: string, expected: string): number {
  const a = [...actual]
  const b = [...expected]
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      )
    }
    previous = current
  }
  return previous[b.length]!
}
