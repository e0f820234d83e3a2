import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests start real worker processes; on 2-core CI machines one file at a time is steadier.
    fileParallelism: false,
    env: { ORT_DISABLE_TELEMETRY: '1' },
  },
})
