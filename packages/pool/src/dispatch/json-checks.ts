// zod's primitive checks, hand-written for the hand-written schema copies on the hot path (chunk-shape.ts,
// infer-response-shape.ts), so both copies read a value exactly as zod does.

/** zod's object check: an object, not null, not an array. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** zod's `.int()`: a safe integer (finite, whole, within ±2^53 − 1). */
export function isInt(value: unknown): value is number {
  return Number.isSafeInteger(value)
}

/** zod's `.int().nonnegative()`. */
export function isNonNegativeInt(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}
