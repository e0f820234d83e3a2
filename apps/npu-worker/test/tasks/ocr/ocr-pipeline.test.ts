// The OCR pipeline's contract on the real PP-OCR models: input forms, limits and errors, static shapes,
// result shape and reading order. Needs the compiled ONNX Runtime thread entry: build first.
import { OcrResultSchema } from '@npu-fleet/protocol'
import sharp from 'sharp'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createOcrPipeline } from '../../../src/tasks/ocr/ocr-pipeline.js'
import { loadOcrModels, type OcrModels } from './ocr-models-context.js'
import { renderTextImage } from './text-image.js'

let models: OcrModels
const pipeline = createOcrPipeline()
let hello: Buffer

beforeAll(async () => {
  models = await loadOcrModels()
  hello = await renderTextImage({
    lines: ['Hello World 2026'],
    font: 'DejaVu Sans 24',
    foreground: '#000000',
    background: '#ffffff',
  })
})
afterAll(async () => {
  await models?.close()
})
beforeEach(() => {
  models.calls.length = 0
})

/** Runs the pipeline and returns the error's code and status (fails when it resolves). */
async function failure(
  run: Promise<unknown>,
): Promise<{ code: string; statusCode: number; message: string }> {
  const err = await run.then(
    () => {
      throw new Error('expected the OCR task to fail')
    },
    (e: unknown) => e as { code: string; statusCode: number; message: string },
  )
  return { code: err.code, statusCode: err.statusCode, message: err.message }
}

describe('ocr pipeline: definition', () => {
  it('is the `ocr` task over the three default models, taking PNG, JPEG and WebP raw bodies', () => {
    expect(pipeline.type).toBe('ocr')
    expect(pipeline.models).toEqual(['ppocr-det', 'ppocr-rec', 'ppocr-cls'])
    expect(pipeline.rawBody?.contentTypes).toEqual(['image/png', 'image/jpeg', 'image/webp'])
    expect(createOcrPipeline({ clsModel: null }).models).toEqual(['ppocr-det', 'ppocr-rec'])
  })

  it('validates the JSON form with the protocol schema', () => {
    expect(pipeline.inputSchema.safeParse({ image: 'aGVsbG8=' }).success).toBe(true)
    const missing = pipeline.inputSchema.safeParse({ use_angle_classifier: true })
    expect(missing.success).toBe(false)
    expect(missing.error?.issues[0]?.path).toEqual(['image'])
    expect(pipeline.inputSchema.safeParse({ image: 'x', use_angle_classifier: 'yes' }).success).toBe(false)
  })

  it('reads the angle-classifier flag of a raw body from the query string', () => {
    const body = Buffer.from([1, 2, 3])
    const toInput = pipeline.rawBody!.toInput
    expect(toInput(body, {})).toEqual({ image: body })
    expect(toInput(body, { use_angle_classifier: 'true' })).toEqual({
      image: body,
      use_angle_classifier: true,
    })
    expect(toInput(body, { use_angle_classifier: '0' })).toEqual({ image: body, use_angle_classifier: false })
    expect(() => toInput(body, { use_angle_classifier: 'maybe' })).toThrow(
      expect.objectContaining({
        code: 'NPU_ERR_BAD_TASK_INPUT',
        message: expect.stringMatching(/^use_angle_classifier: /),
      }),
    )
  })
})

describe('ocr pipeline: input forms', () => {
  it('reads base64, a data: URL, line-wrapped base64 and raw bytes alike', async () => {
    const base64 = hello.toString('base64')
    const forms = [
      base64,
      `data:image/png;base64,${base64}`,
      base64.replace(/.{76}/g, '$&\n'),
      hello.toString('base64url'),
    ]
    for (const image of [...forms, hello]) {
      const outcome = await pipeline.run({ image }, models.context())
      expect(outcome.result.lines.map((l) => l.text)).toEqual(['Hello World 2026'])
    }
  })

  it('answers with the protocol result shape and where the models ran', async () => {
    const outcome = await pipeline.run({ image: hello }, models.context())
    expect(OcrResultSchema.parse(outcome.result)).toEqual(outcome.result)
    expect(outcome).toMatchObject({ model: 'ppocr-rec', backend: 'onnxruntime', device: 'CPU' })
    const meta = await sharp(hello).metadata()
    expect(outcome.result).toMatchObject({ width: meta.width, height: meta.height })
    const [line] = outcome.result.lines
    expect(line!.confidence).toBeGreaterThan(0.9)
    expect(line!.confidence).toBeLessThanOrEqual(1)
    // The box surrounds the text inside the 24-pixel margin of the rendered image, clockwise from top-left.
    const [tl, tr, br, bl] = line!.box
    expect(tl[0]).toBeLessThan(tr[0])
    expect(tl[1]).toBeLessThan(bl[1])
    expect(br).toEqual([tr[0], bl[1]])
    expect(tl[0]).toBeGreaterThanOrEqual(10)
    expect(tl[0]).toBeLessThanOrEqual(30)
    expect(tr[0]).toBeGreaterThan(meta.width! - 40)
    expect(tr[0]).toBeLessThanOrEqual(meta.width! - 10)
    expect(models.calls.map((c) => c.model)).toEqual(['ppocr-det', 'ppocr-rec'])
  })

  it('returns lines in reading order with their own boxes', async () => {
    const page = await renderTextImage({
      lines: ['First line here', 'Second line 22', 'Third and last'],
      font: 'Liberation Sans 20',
      foreground: '#ffffff',
      background: '#202830',
      format: 'webp',
    })
    const { result } = await pipeline.run({ image: page }, models.context())
    expect(result.lines.map((l) => l.text)).toEqual(['First line here', 'Second line 22', 'Third and last'])
    const tops = result.lines.map((l) => l.box[0][1])
    expect(tops).toEqual([...tops].sort((a, b) => a - b))
  })

  it('finds no lines on an empty page and runs only the detector', async () => {
    const blank = await sharp({ create: { width: 300, height: 120, channels: 3, background: '#f0f0f0' } })
      .png()
      .toBuffer()
    const outcome = await pipeline.run({ image: blank }, models.context())
    expect(outcome.result).toEqual({ lines: [], width: 300, height: 120 })
    expect(outcome.model).toBe('ppocr-det')
    expect(models.calls.map((c) => c.model)).toEqual(['ppocr-det'])
  })

  it('copes with a 1-pixel image and extreme aspect ratios', async () => {
    for (const [width, height] of [
      [1, 1],
      [20_000, 3],
      [2, 9_000],
    ] as const) {
      const image = await sharp({ create: { width, height, channels: 3, background: '#000000' } })
        .png()
        .toBuffer()
      const { result } = await pipeline.run({ image }, models.context())
      expect(result).toEqual({ lines: [], width, height })
    }
  })

  it('fits its tensors to static model shapes (the NPU) and still reads the text', async () => {
    const shapes: Record<string, number[]> = {
      'ppocr-det': [1, 3, 640, 640],
      'ppocr-rec': [1, 3, 48, 320],
      'ppocr-cls': [1, 3, 48, 192],
    }
    const npuLike = createOcrPipeline({ modelInputShape: (model) => shapes[model] })
    const page = await renderTextImage({
      lines: ['Static shapes work', 'Line two 42'],
      font: 'DejaVu Sans 28',
      foreground: '#000000',
      background: '#ffffff',
    })
    const { result } = await npuLike.run({ image: page, use_angle_classifier: true }, models.context())
    expect(result.lines.map((l) => l.text)).toEqual(['Static shapes work', 'Line two 42'])
    const shapesSeen = models.calls.map((c) => `${c.model} ${c.inputShape.slice(1).join('x')}`)
    expect(new Set(shapesSeen)).toEqual(
      new Set(['ppocr-det 3x640x640', 'ppocr-cls 3x48x192', 'ppocr-rec 3x48x320']),
    )
  })

  it('uses dynamic multiples of 32 for the detector and at least 320 for recognition otherwise', async () => {
    await pipeline.run({ image: hello }, models.context())
    const meta = await sharp(hello).metadata()
    const [det, rec] = models.calls
    expect(det!.inputShape).toEqual([
      1,
      3,
      Math.round(meta.height! / 32) * 32,
      Math.round(meta.width! / 32) * 32,
    ])
    expect(rec!.inputShape[3]).toBeGreaterThanOrEqual(320)
  })

  it('stops when the task is cancelled before it starts', async () => {
    const controller = new AbortController()
    controller.abort(new Error('client went away'))
    await expect(pipeline.run({ image: hello }, models.context(controller.signal))).rejects.toThrow(
      'client went away',
    )
    expect(models.calls).toEqual([])
  })
})

describe('ocr pipeline: bad images and limits', () => {
  it('answers 400 NPU_ERR_BAD_IMAGE for undecodable input, never a 500', async () => {
    const gif = Buffer.from('R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=', 'base64')
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    const truncatedPng = hello.subarray(0, Math.floor(hello.length / 2))
    const jpeg = await sharp(hello).jpeg().toBuffer()
    const cases: [string, string | Buffer, RegExp][] = [
      ['empty bytes', Buffer.alloc(0), /image is empty/],
      ['not base64', 'not*base64!', /not valid base64/],
      ['data URL without base64', 'data:image/png,abcd', /must be base64/],
      ['GIF', gif, /not PNG, JPEG or WebP/],
      ['SVG', svg, /not PNG, JPEG or WebP/],
      ['truncated PNG', truncatedPng, /png data is corrupt/],
      [
        'PNG magic then garbage',
        Buffer.concat([hello.subarray(0, 8), Buffer.alloc(200, 7)]),
        /png data is corrupt/,
      ],
      ['truncated JPEG', jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), /jpeg data is corrupt/],
      ['WebP header only', Buffer.from('RIFF\x10\x00\x00\x00WEBPVP8 ', 'latin1'), /webp data is corrupt/],
    ]
    for (const [name, image, message] of cases) {
      const err = await failure(pipeline.run({ image }, models.context()))
      expect({ name, ...err }).toMatchObject({ name, code: 'NPU_ERR_BAD_IMAGE', statusCode: 400, message })
    }
    expect(models.calls).toEqual([])
  })

  it('answers 413 NPU_ERR_IMAGE_TOO_LARGE over the pixel limit, from the header alone', async () => {
    const small = createOcrPipeline({ maxPixels: 10_000 })
    const err = await failure(small.run({ image: hello }, models.context()))
    const meta = await sharp(hello).metadata()
    expect(err).toEqual({
      code: 'NPU_ERR_IMAGE_TOO_LARGE',
      statusCode: 413,
      message: `Image ${meta.width}x${meta.height} exceeds the limit of 10000 pixels`,
    })
  })

  it('answers 413 NPU_ERR_PAYLOAD_TOO_LARGE over the byte limit, before decoding base64', async () => {
    const small = createOcrPipeline({ maxBytes: 1000 })
    for (const image of [hello, hello.toString('base64')]) {
      const err = await failure(small.run({ image }, models.context()))
      expect(err).toMatchObject({
        code: 'NPU_ERR_PAYLOAD_TOO_LARGE',
        statusCode: 413,
        message: /image limit of 1000 bytes/,
      })
    }
  })

  it('answers 400 when the angle classifier is asked for but none is configured', async () => {
    const noCls = createOcrPipeline({ clsModel: null })
    const err = await failure(noCls.run({ image: hello, use_angle_classifier: true }, models.context()))
    expect(err).toMatchObject({
      code: 'NPU_ERR_BAD_TASK_INPUT',
      statusCode: 400,
      message: /^use_angle_classifier: /,
    })
  })
})
