import type { TaskResponse } from '@npu-fleet/protocol'
import { formatIssues } from '@npu-fleet/protocol'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Tensor } from '../backends/tensor.js'
import { ErrBadTaskInput, ErrDeadlineExceeded, ErrModelNotFound, ErrNotServing } from '../errors.js'
import type { GenerationInput, GenerationParameters } from '../generation/text-generator.js'
import { httpRequestDeadline } from '../http/request-deadline.js'
import type { ModelCallResult, TaskOutcome, TaskPipeline } from './task-pipeline.js'

/** A finished task: the pipeline's outcome and how long it took end to end (ms). */
export interface TaskRun<R> extends TaskOutcome<R> {
  durationMs: number
}

/**
 * Runs one task for an HTTP request: validates the input against the pipeline's schema (400 naming the
 * field), then runs it with one deadline for the whole task (every model call gets what is left of it)
 * and a signal aborted when the client goes away.
 */
export async function runTask<I, R>(
  app: FastifyInstance,
  pipeline: TaskPipeline<I, R>,
  rawInput: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  /** True when `rawInput` already is the pipeline's input (from its `rawBody.toInput`), not JSON to validate. */
  parsedAlready = false,
): Promise<TaskRun<R>> {
  if (app.lifecycle.state !== 'serving') throw new ErrNotServing(app.lifecycle.state)
  let input: I
  if (parsedAlready) input = rawInput as I
  else {
    const parsed = pipeline.inputSchema.safeParse(rawInput)
    if (!parsed.success) throw new ErrBadTaskInput(formatIssues(parsed.error))
    input = parsed.data
  }
  const started = performance.now()
  const { deadlineMs, signal } = httpRequestDeadline(request, reply, app.workerConfig.request_timeout_ms)
  const deadlineAt = started + deadlineMs

  const infer = async (
    name: string,
    inputs: Record<string, Tensor>,
    outputNames?: readonly string[],
  ): Promise<ModelCallResult> => {
    const model = app.registry.resolve(name)
    if (!model) throw new ErrModelNotFound(name)
    const loaded = model.ready()
    if (!loaded) throw model.notReadyError()
    const left = deadlineAt - performance.now()
    if (left <= 0) throw new ErrDeadlineExceeded(deadlineMs)
    const outputs = await app.scheduler.run(model, inputs, {
      ...(outputNames ? { outputNames } : {}),
      signal,
      deadlineMs: left,
    })
    return { outputs, model: model.name, backend: loaded.backend, device: loaded.device }
  }

  const generate = async (
    name: string,
    generationInput: GenerationInput,
    parameters: GenerationParameters,
  ) => {
    const model = app.generators.resolve(name)
    if (!model) throw new ErrModelNotFound(name)
    const left = deadlineAt - performance.now()
    if (left <= 0) throw new ErrDeadlineExceeded(deadlineMs)
    return app.generation.run(model, generationInput, parameters, { signal, deadlineMs: left })
  }

  const outcome = await pipeline.run(input, { infer, generate, signal, log: request.log })
  return { ...outcome, durationMs: performance.now() - started }
}

/** The `/v1/tasks/{type}` success envelope of a finished task (also `/inference`'s reply). */
export function taskEnvelope<R>(type: string, run: TaskRun<R>): TaskResponse<R> {
  return {
    success: true,
    task: type,
    model: run.model,
    backend: run.backend,
    device: run.device,
    duration_ms: Math.round(run.durationMs * 1000) / 1000,
    result: run.result,
  }
}
