#!/usr/bin/env node
// The worker process: configuration, logger, listen, model loading, signals and systemd notification.
// Nothing else in the worker touches `process`.
import { setFlagsFromString } from 'node:v8'
import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { buildApp } from './app.js'
import { ConfigError, loadWorkerConfig } from './config.js'
import { ConnectionDrain } from './http/connection-drain.js'
import { scanModelRepository } from './models/model-repository.js'
import { SdNotify } from './systemd/sd-notify.js'
import { WORKER_VERSION } from './worker-version.js'

// ONNX Runtime reads this through getenv; without it, it writes a telemetry database under ~/.cache.
process.env.ORT_DISABLE_TELEMETRY ??= '1'
// The launcher's --initial-old-space-size (scripts/release/npu-worker.sh) is for this isolate, whose limit the
// request bodies in flight used up. V8 reads the flag again for each worker thread's isolate, where it let an
// ONNX Runtime thread's external buffers reach ~35 MB before a collection (~40 MiB more RSS after binary
// load): reset it before any thread starts. The main heap keeps the floor it was configured with.
setFlagsFromString('--initial-old-space-size=0')

function loadConfigOrExit() {
  try {
    return loadWorkerConfig({ argv: process.argv.slice(2), env: process.env, cwd: process.cwd() })
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`npu-worker: invalid configuration: ${error.message}\n`)
    process.exit(2)
  }
}

const { config, checkConfig, configFile } = loadConfigOrExit()

if (checkConfig) {
  // Validates everything a start would read before touching a runtime, so a deploy can refuse a bad config.
  try {
    const scan = scanModelRepository(config.models_dir)
    if (scan.errors.length > 0) throw new Error(scan.errors.map((e) => `${e.name}: ${e.error}`).join('; '))
    if (scan.specs.length === 0) throw new Error('the model repository holds no model')
    process.stdout.write(
      `config OK${configFile ? ` (${configFile})` : ''}: ${scan.specs.length} model version(s): ${scan.specs.map((s) => `${s.name}:${s.version}`).join(', ')}\n`,
    )
    process.exit(0)
  } catch (error) {
    process.stderr.write(`npu-worker: invalid configuration: ${(error as Error).message}\n`)
    process.exit(1)
  }
}

const loggerOptions = {
  level: config.log_level,
  // `worker_version`, not `version`: model log lines carry their own `version` field.
  base: { service: 'npu-worker', worker_version: WORKER_VERSION, pid: process.pid },
}
// Pretty output only for a person at a terminal; journald and log shippers get JSON lines. The JSON
// destination is ours so that the last words before a forced exit can be flushed synchronously.
const jsonOut = process.stdout.isTTY ? null : pino.destination({ dest: 1, sync: true })
const logger = jsonOut
  ? pino(loggerOptions, jsonOut)
  : pino({
      ...loggerOptions,
      transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } },
    })

/** Writes out buffered log lines now (a pipe that was full holds them back), before an abrupt exit. */
function flushLogs(): void {
  try {
    jsonOut?.flushSync()
  } catch {
    // Nothing buffered, or stdout is gone: there is no one left to tell.
  }
  logger.flush()
}

const notify = new SdNotify({
  socketPath: process.env.NOTIFY_SOCKET,
  watchdogUsec: process.env.WATCHDOG_USEC,
  watchdogPid: process.env.WATCHDOG_PID,
  pid: process.pid,
})
if (config.test_hooks) {
  logger.warn(
    { test_hooks: config.test_hooks },
    'TEST HOOKS ENABLED (test routes, fake runtimes, fault injection): never run this configuration in production',
  )
}
const app = await buildApp({ config, logger }).catch((err: Error) => {
  // A repository that vanished between --check-config and start, for example: say so and exit non-zero,
  // so systemd (Restart=on-failure) and the deploy verification see a failed start, not a hang.
  logger.fatal({ err }, `cannot start: ${err.message}`)
  flushLogs()
  process.exit(1)
})

/** True while native inference runs: in the scheduler, or abandoned after its hard limit inside a thread. */
function nativeWorkRunning(): boolean {
  return (
    app.scheduler.load(app.registry.all()).active > 0 ||
    app.generation.active(app.generators.all()) > 0 ||
    app.registry.abandonedCalls().length > 0
  )
}

/**
 * Ends the process now, with `code` when it can. `process.exit` first stops every worker thread, and a
 * thread inside ONNX Runtime's native `run` cannot stop: the exit would wait for that inference and then
 * ONNX Runtime aborts the process (SIGABRT) as the thread's environment is torn down (backends/onnxruntime.ts
 * says how that was checked). So while an inference runs, or one abandoned after its hard limit still does,
 * the only immediate exit is SIGKILL on ourselves (systemd records it as a failure too).
 */
function forceExit(code: number, why: string): never {
  const busy = nativeWorkRunning()
  logger.error(
    { busy, abandoned_calls: app.registry.abandonedCalls() },
    busy ? `${why}: native inference running, killing the process` : why,
  )
  flushLogs()
  if (busy) process.kill(process.pid, 'SIGKILL')
  return process.exit(code)
}

// Tracks every connection from the first one, so the drain can close each only when no request is on it.
const connections = new ConnectionDrain(app.server)
/** How long open connections get to finish their last request once the listener is closed. */
const CONNECTION_CLOSE_LIMIT_MS = 5000

/** Settles when background model loading is over (or never started). */
let modelsLoading: Promise<void> = Promise.resolve()
/** The gRPC listener, when `grpc_port` is set (started after the HTTP one, drained with it). */
let grpcServer: { close(graceMs: number): Promise<void> } | null = null

closeWithGrace(
  {
    delay: config.drain_delay_ms + config.shutdown_grace_ms,
    logger,
    onSecondSignal: (signal) => forceExit(1, `second ${signal} while draining: exiting now`),
    onSecondError: (err) => forceExit(1, `error while draining: ${String(err)}`),
    onTimeout: (delay) => forceExit(1, `in-flight work did not finish within ${delay} ms: exiting now`),
  },
  async ({ signal, err }) => {
    if (err) logger.error({ err }, 'fatal error, shutting down')
    logger.info({ signal }, 'draining: finishing in-flight requests')
    app.lifecycle.markDraining()
    await notify.stopping('draining').catch(() => {})
    await Promise.all([app.scheduler.drain(), app.generation.drain(app.generators.all())])
    // The drain delay: the listeners stay open a while longer, answering `draining`, so clients that route by
    // health checks see this worker leave before it stops answering at all.
    const delayLeft = (app.lifecycle.drainingSince ?? 0) + config.drain_delay_ms - Date.now()
    if (delayLeft > 0) await new Promise((resolve) => setTimeout(resolve, delayLeft))
    // Draining answered new gRPC calls UNAVAILABLE while the queues emptied; now the last answers are written.
    await grpcServer?.close(config.shutdown_grace_ms)
    // A model compiling now cannot be interrupted; unloading must wait for it, or it would load after the
    // unload and its native session would be torn down mid-creation at exit.
    await modelsLoading
    // Until now the listener took connections and every request got its answer (503 `draining` for new
    // work) on a connection kept alive, so no client had a reason to reconnect. Now new ones are refused,
    // and each open connection closes after its next answer (`Connection: close`) or once idle.
    const closing = connections.close(CONNECTION_CLOSE_LIMIT_MS)
    logger.info({ open_connections: connections.open }, 'listener closed; closing each connection once idle')
    const closed = await closing
    if (closed.left > 0)
      logger.warn(closed, 'connections closed (those still busy at the limit were destroyed)')
    else logger.info(closed, 'connections closed')
    await app.close() // unloads models (registry onClose hook)
    notify.close()
    const abandoned = app.registry.abandonedCalls()
    // An exit in order would wait for the abandoned native calls, then abort (see forceExit).
    if (abandoned.length > 0) forceExit(1, `stopped with ${abandoned.length} native inference(s) still stuck`)
    logger.info('stopped')
  },
)

// Bind the port first: probes and systemd see a live process at once; /health says `starting` until models load.
await app.listen({ host: config.host, port: config.port })
const address = app.server.address()
const port = typeof address === 'object' && address ? address.port : config.port
logger.info({ host: config.host, port }, 'listening')

// gRPC on its own port, when configured; loaded only then (a worker without it never imports grpc-js).
if (config.grpc_port !== 0) {
  const { GrpcInferenceServer } = await import('./grpc/grpc-server.js')
  const server = new GrpcInferenceServer(app)
  grpcServer = server
  const grpcPort = await server.listen(config.host, config.grpc_port).catch((err: Error) => {
    logger.fatal({ err }, `cannot listen for gRPC on ${config.host}:${config.grpc_port}: ${err.message}`)
    flushLogs()
    process.exit(1)
  })
  logger.info({ host: config.host, port: grpcPort }, 'grpc listening')
}
await notify
  .ready(`listening on ${config.host}:${port}; loading models`)
  .catch((err) => logger.error({ err }, 'sd_notify READY failed'))

/** Loads every model in the background, then flips the lifecycle to serving (unless already draining). */
async function loadModels(port: number): Promise<void> {
  const loadDelayMs = config.test_hooks?.load_delay_ms ?? 0
  if (loadDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, loadDelayMs))
  if (app.lifecycle.state !== 'starting') return
  await app.registry.loadAll()
  app.lifecycle.markServing()
  const ready = [...app.registry.all(), ...app.generators.all()].filter((m) => m.ready() !== null)
  const tasks = app.tasks.available()
  logger.info(
    {
      ready: ready.map((m) => `${m.name}:${m.version}@${m.ready()?.backend}/${m.ready()?.device}`),
      tasks,
    },
    'models loaded',
  )
  // A task whose models are present but cannot serve (failed load, unreadable tokenizer) degrades /health too.
  for (const { type, reason } of app.tasks.unavailable()) {
    const pipeline = app.tasks.all().find((p) => p.type === type)
    logger.warn({ task: type, models: pipeline?.models, reason }, 'task unavailable: see /health')
  }
  await notify.status(`serving ${ready.length} model version(s) on port ${port}`).catch(() => {})
}

modelsLoading = loadModels(port)
