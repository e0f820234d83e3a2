import type { FastifyInstance } from 'fastify'
import { ErrNotServing } from '../errors.js'
import type { RegisteredModel } from '../models/registered-model.js'
import type { AdmissionTicket } from '../scheduler/admission-ticket.js'
import type { RequestDeadline } from '../scheduler/request-deadline.js'
import { type DecodeOptions, decodeRequest } from './decode-request.js'
import { type EncodedResponse, encodeResponse } from './encode-response.js'
import type { InferBody } from './infer-body.js'

/** What an inference needs from the worker: its state, its models and its scheduler. */
export type InferenceContext = Pick<FastifyInstance, 'lifecycle' | 'scheduler'>

/** How a transport delivers one request: its default output form and how it turns into a deadline and a signal. */
export interface InferTransport extends DecodeOptions {
  /** The request's deadline and cancellation; `parameterMs` is its `parameters.timeout`, when given. */
  deadline(parameterMs: number | undefined): RequestDeadline
  /** The place admission gave the request before its body was read, if the transport admits that early. */
  ticket?: AdmissionTicket
  /** Takes the input buffers the backend hands back once the inference is done with them (RunOptions). */
  recycleInputs?: (buffer: ArrayBuffer) => void
}

/**
 * One inference for REST and gRPC alike: the body decoded against the model (4xx naming the field), run by
 * the scheduler under the model's admission control with the request's deadline and cancellation, and the
 * answer encoded in the forms asked for. Rejects with the catalogue's NPU_ERR_* errors.
 */
export async function runInference(
  context: InferenceContext,
  model: RegisteredModel,
  body: InferBody,
  transport: InferTransport,
): Promise<EncodedResponse> {
  if (context.lifecycle.state !== 'serving') throw new ErrNotServing(context.lifecycle.state)
  const loaded = model.ready()
  if (!loaded) throw model.notReadyError()
  const request = decodeRequest(body, loaded, transport)
  const { deadlineMs, signal } = transport.deadline(request.timeoutMs)
  // The decoded tensors are this request's alone: the backend may take their buffers without a copy.
  const outputs = await context.scheduler.run(model, request.inputs, {
    ...(request.outputNames ? { outputNames: request.outputNames } : {}),
    signal,
    deadlineMs,
    transferInputs: true,
    parameters: request.parameters,
    ...(transport.ticket ? { ticket: transport.ticket } : {}),
    ...(transport.recycleInputs ? { recycleInputs: transport.recycleInputs } : {}),
  })
  return encodeResponse(request, model, outputs)
}
