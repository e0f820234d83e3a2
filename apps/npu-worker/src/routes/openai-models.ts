import type { ModelList } from '@npu-fleet/protocol'
import type { FastifyPluginAsync } from 'fastify'
import { ErrModelNotFound } from '../errors.js'

type ModelEntry = ModelList['data'][number]

/**
 * `GET /v1/models` (and `GET /v1/models/{model}`): every model the OpenAI routes serve now, the language models
 * of `/v1/chat/completions` and `/v1/completions` and the embedders of `/v1/embeddings`, as OpenAI lists them.
 */
const openAiModelsRoutes: FastifyPluginAsync = async (app) => {
  const served = (): ModelEntry[] => {
    const entry = (name: string, since: number): ModelEntry => ({
      id: name,
      object: 'model',
      created: Math.floor(since / 1000),
      owned_by: 'npu-worker',
    })
    const entries = new Map<string, ModelEntry>()
    for (const m of app.generators.all()) {
      if (m.ready() && !entries.has(m.name)) entries.set(m.name, entry(m.name, m.state.since))
    }
    for (const m of app.registry.all()) {
      if (m.manifest.embeddings && m.ready() && !entries.has(m.name))
        entries.set(m.name, entry(m.name, m.state.since))
    }
    return [...entries.values()].sort((a, b) => a.id.localeCompare(b.id))
  }

  app.get('/v1/models', async (): Promise<ModelList> => ({ object: 'list', data: served() }))

  app.get<{ Params: { model: string } }>('/v1/models/:model', async (request): Promise<ModelEntry> => {
    const models = served()
    const found = models.find((m) => m.id === request.params.model)
    if (!found) {
      throw new ErrModelNotFound(
        `${request.params.model} (served: ${models.map((m) => m.id).join(', ') || 'none'})`,
      )
    }
    return found
  })
}

export default openAiModelsRoutes
