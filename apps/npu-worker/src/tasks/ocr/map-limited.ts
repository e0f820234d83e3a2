/**
 * `Promise.all(items.map(fn))` with at most `limit` calls in flight, results in input order. One task's line
 * batches then use the model's parallel instances without flooding its queue (a full queue would turn the
 * whole task into a 503).
 */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const lane = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await fn(items[index]!, index)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane))
  return results
}
