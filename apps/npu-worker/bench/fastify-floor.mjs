#!/usr/bin/env node
// The floor any route of the worker is compared with: a Fastify server answering the same JSON POST with
// nothing behind it (the body is parsed, its `inputs` checked, a tiny JSON answer sent). A process of its
// own so a pinned run gives it the worker's core. Prints {"port": N} once listening; SIGTERM stops it.
import Fastify from 'fastify'

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 })
app.post('/echo', async (request) => ({ received: Array.isArray(request.body?.inputs) }))
await app.listen({ host: '127.0.0.1', port: 0 })
console.log(JSON.stringify({ port: app.server.address().port }))
process.on('SIGTERM', () => app.close().then(() => process.exit(0)))
