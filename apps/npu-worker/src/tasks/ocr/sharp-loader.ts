import type Sharp from 'sharp'

let loading: Promise<typeof Sharp> | null = null

/**
 * sharp, loaded on first use: libvips and its JS take ~15 MB of resident memory, which a worker that never
 * decodes an image (no OCR model, or only tensor traffic) should not pay for.
 */
export function loadSharp(): Promise<typeof Sharp> {
  loading ??= import('sharp').then((module) => module.default)
  return loading
}
