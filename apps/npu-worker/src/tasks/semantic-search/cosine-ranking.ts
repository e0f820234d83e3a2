import { ErrBadTaskInput } from '../../errors.js'

/** One ranked document. */
export interface RankedDocument {
  index: number
  similarity: number
  metadata: unknown
}

/** Euclidean length of a vector. */
function norm(vector: readonly number[]): number {
  let sum = 0
  for (const v of vector) sum += v * v
  return Math.sqrt(sum)
}

/**
 * The documents most similar to `query` (cosine similarity), best first, at most `topK`, each at least
 * `threshold`; ties keep document order. A document whose length differs from the query's is a 400 naming
 * `document_embeddings[i]`, and so is one with a non-finite element; a zero vector has similarity 0.
 */
export function rankByCosine(
  query: readonly number[],
  documents: readonly (readonly number[])[],
  metadata: readonly unknown[] | undefined,
  topK: number,
  threshold: number,
): RankedDocument[] {
  if (metadata !== undefined && metadata.length !== documents.length) {
    throw new ErrBadTaskInput(
      `document_metadata: ${metadata.length} entries for ${documents.length} document_embeddings; give one per document`,
    )
  }
  const queryNorm = norm(query)
  const ranked: RankedDocument[] = []
  documents.forEach((document, index) => {
    if (document.length !== query.length) {
      throw new ErrBadTaskInput(
        `document_embeddings[${index}]: ${document.length} dimensions; the query embedding has ${query.length} (embed the documents with the same model)`,
      )
    }
    let dot = 0
    for (let i = 0; i < document.length; i++) {
      const value = document[i] as number
      if (!Number.isFinite(value)) {
        throw new ErrBadTaskInput(`document_embeddings[${index}][${i}]: expected a finite number`)
      }
      dot += value * (query[i] as number)
    }
    const scale = norm(document) * queryNorm
    const similarity = scale === 0 ? 0 : dot / scale
    if (similarity >= threshold) ranked.push({ index, similarity, metadata: metadata?.[index] ?? null })
  })
  return ranked.sort((a, b) => b.similarity - a.similarity || a.index - b.index).slice(0, topK)
}
