import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The Prometheus test starts real workers, a backend and a Prometheus server: one file at a time.
    fileParallelism: false,
    env: { ORT_DISABLE_TELEMETRY: '1' },
  },
})
