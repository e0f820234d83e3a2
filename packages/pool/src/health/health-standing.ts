/**
 * Where health puts a worker for routing, as selection reads it (a number: read on every request):
 * 0 and 1 are in rotation (healthy before degraded); 2 is down by checks that got no answer while the
 * worker's identity still holds (the ejection cap may route to it); 3 is out (never checked, says itself it
 * cannot serve, or did not answer as a compatible npu-worker).
 */
export const HealthStanding = { HEALTHY: 0, DEGRADED: 1, SILENT: 2, OUT: 3 } as const
/** One of {@link HealthStanding}'s values. */
export type HealthStanding = (typeof HealthStanding)[keyof typeof HealthStanding]
