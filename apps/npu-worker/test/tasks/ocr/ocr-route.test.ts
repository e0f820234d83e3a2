// `POST /v1/tasks/ocr` against a real worker process (dist/server.js, the default model repository, ONNX
// Runtime on the CPU) on a loopback port. Build the worker first.
import { TaskResponseSchema } from '@npu-fleet/protocol'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startWorker, type WorkerProcess } from '../../helpers/worker-process.js'
import { renderTextImage } from './text-image.js'

let worker: WorkerProcess
let page: Buffer

beforeAll(async () => {
  worker = await startWorker({ waitFor: 'ready', timeoutMs: 120_000 })
  page = await renderTextImage({
    lines: ['Invoice 2026-117', 'Total due: 480.25 EUR'],
    font: 'DejaVu Sans 22',
    foreground: '#101010',
    background: '#ffffff',
  })
})
afterAll(async () => {
  await worker?.stop()
})

async function post(body: string | Buffer, contentType: string, query = '') {
  const response = await fetch(`${worker.url}/v1/tasks/ocr${query}`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

const json = (input: unknown) => post(JSON.stringify(input), 'application/json')

describe('POST /v1/tasks/ocr on a real worker', () => {
  /** Where /health says the recognizer runs (ONNX Runtime on the CPU here, OpenVINO on an NPU host). */
  let recognizer: { backend: string; device: string }

  it('is advertised in /health once the PP-OCR models are ready', async () => {
    const health = (await (await fetch(`${worker.url}/health`)).json()) as {
      capabilities: { tasks?: string[] }
      models: { name: string; state: string; backend: string; device: string }[]
    }
    expect(health.capabilities.tasks).toContain('ocr')
    const rec = health.models.find((m) => m.name === 'ppocr-rec')
    expect(rec).toMatchObject({ state: 'ready' })
    recognizer = { backend: rec!.backend, device: rec!.device }
  })

  it('reads a base64 PNG from JSON and answers the task envelope', async () => {
    const { status, body } = await json({ image: page.toString('base64') })
    expect(status).toBe(200)
    const envelope = TaskResponseSchema.parse(body)
    expect(envelope).toMatchObject({ task: 'ocr', model: 'ppocr-rec', ...recognizer })
    const meta = await sharp(page).metadata()
    expect(envelope.result).toMatchObject({
      width: meta.width,
      height: meta.height,
      lines: [
        { text: 'Invoice 2026-117', confidence: expect.any(Number) },
        { text: 'Total due: 480.25 EUR', confidence: expect.any(Number) },
      ],
    })
  })

  it('reads the same image as a raw image/png body, and a raw upside-down JPEG with the classifier', async () => {
    const raw = await post(page, 'image/png')
    expect(raw.status).toBe(200)
    expect((raw.body.result as { lines: { text: string }[] }).lines.map((l) => l.text)).toEqual([
      'Invoice 2026-117',
      'Total due: 480.25 EUR',
    ])
    const upsideDown = await sharp(page).rotate(180).jpeg({ quality: 92 }).toBuffer()
    const turned = await post(upsideDown, 'image/jpeg', '?use_angle_classifier=true')
    expect(turned.status).toBe(200)
    expect((turned.body.result as { lines: { text: string }[] }).lines.map((l) => l.text)).toEqual([
      'Invoice 2026-117',
      'Total due: 480.25 EUR',
    ])
  })

  it('answers 400 NPU_ERR_BAD_IMAGE for a corrupt image, as JSON or raw, and keeps serving', async () => {
    const corrupt = Buffer.concat([page.subarray(0, 60), Buffer.alloc(300, 0x5a)])
    for (const { status, body } of [
      await json({ image: corrupt.toString('base64') }),
      await post(corrupt, 'image/png'),
      await json({ image: '%%% not base64 %%%' }),
      await json({ image: Buffer.from('GIF89a....').toString('base64') }),
    ]) {
      expect(status).toBe(400)
      expect(body).toEqual({
        code: 'NPU_ERR_BAD_IMAGE',
        error: expect.stringMatching(/^Cannot decode image: /),
      })
    }
    expect((await post(page, 'image/png')).status).toBe(200)
  })

  it('answers 413 NPU_ERR_IMAGE_TOO_LARGE over 25 megapixels, from the header', async () => {
    // A blank 5001 x 5000 PNG is 80 KB compressed but 25 005 000 pixels.
    const huge = await sharp({ create: { width: 5001, height: 5000, channels: 3, background: '#ffffff' } })
      .png()
      .toBuffer()
    for (const { status, body } of [
      await post(huge, 'image/png'),
      await json({ image: huge.toString('base64') }),
    ]) {
      expect(status).toBe(413)
      expect(body).toEqual({
        code: 'NPU_ERR_IMAGE_TOO_LARGE',
        error: 'Image 5001x5000 exceeds the limit of 25000000 pixels',
      })
    }
  })

  it('answers 400 NPU_ERR_BAD_TASK_INPUT naming the field, and 415 for image types it cannot read', async () => {
    const missing = await json({ use_angle_classifier: true })
    expect(missing.status).toBe(400)
    expect(missing.body).toMatchObject({
      code: 'NPU_ERR_BAD_TASK_INPUT',
      error: expect.stringContaining('image'),
    })
    const badFlag = await post(page, 'image/png', '?use_angle_classifier=perhaps')
    expect(badFlag.status).toBe(400)
    expect(badFlag.body).toMatchObject({
      code: 'NPU_ERR_BAD_TASK_INPUT',
      error: expect.stringMatching(/^use_angle_classifier: /),
    })
    const gif = await post(Buffer.from('GIF89a....'), 'image/gif')
    expect(gif.status).toBe(415)
    expect(gif.body).toMatchObject({ code: 'NPU_ERR_UNSUPPORTED_MEDIA_TYPE' })
  })
})
