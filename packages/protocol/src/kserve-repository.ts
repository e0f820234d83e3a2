import { z } from 'zod'

// The model repository extension (Triton's docs/protocol/extension_model_repository.md), REST side; the gRPC
// twins are RepositoryIndex, RepositoryModelLoad and RepositoryModelUnload in proto/open_inference_grpc.proto.

/** `POST /v2/repository/index` body (optional): `ready: true` lists only the model versions that can serve. */
export const RepositoryIndexRequestSchema = z.object({ ready: z.boolean().optional() }).strict()
/** Repository index request. */
export type RepositoryIndexRequest = z.infer<typeof RepositoryIndexRequestSchema>

/**
 * One entry of the index: a model version the worker holds (`state` one of ModelStateSchema's), or a model
 * folder it does not serve: `unavailable`, with `reason` (unloaded, or its model.yaml is broken) and no version.
 */
export const RepositoryIndexEntrySchema = z.object({
  name: z.string(),
  version: z.string().optional(),
  state: z.string(),
  reason: z.string(),
})
/** One index entry. */
export type RepositoryIndexEntry = z.infer<typeof RepositoryIndexEntrySchema>

/** `POST /v2/repository/index` answer: every model in the folder, sorted by name then version. */
export const RepositoryIndexResponseSchema = z.array(RepositoryIndexEntrySchema)
/** Repository index. */
export type RepositoryIndexResponse = z.infer<typeof RepositoryIndexResponseSchema>
