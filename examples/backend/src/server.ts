// The example backend's process: environment, listen, signals. Everything else is in app.ts.
import { buildBackend } from './app.js'

const env = process.env
const adminToken = env.NPU_POOL_ADMIN_TOKEN
if (adminToken === undefined || adminToken.length < 16) {
  process.stderr.write('NPU_POOL_ADMIN_TOKEN must be set to at least 16 characters\n')
  process.exit(2)
}

const { app } = await buildBackend({
  configPath: env.NPU_POOL_CONFIG ?? 'config/npu_workers.yaml',
  adminToken,
  watchConfig: env.NPU_POOL_WATCH === '1',
  logLevel: env.LOG_LEVEL ?? 'info',
}).catch((error: Error) => {
  process.stderr.write(`cannot start: ${error.message}\n`)
  process.exit(2)
})

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    app.log.info({ signal }, 'shutting down')
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  })
}

await app.listen({ host: env.HOST ?? '127.0.0.1', port: Number(env.PORT ?? 3000) })
