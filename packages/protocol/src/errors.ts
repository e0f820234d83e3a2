import { z } from 'zod'

/** Every error body either side sends: a human message and a stable machine code. */
export const ErrorBodySchema = z.object({
  error: z.string(),
  code: z.string().regex(/^(NPU|POOL)_ERR_[A-Z0-9_]+$/),
  /** Extra structured detail (the field that failed, the list of valid task types, ...). */
  details: z.record(z.string(), z.unknown()).optional(),
})
/** Error body on the wire. */
export type ErrorBody = z.infer<typeof ErrorBodySchema>
