#!/usr/bin/env node
// A monitor in a process of its own: probes `/health` of the URL in argv[2] every 20 ms on one keep-alive
// connection (opened before it reports ready), timing only the request, until its stdin closes; then prints
// the latencies (ms) as JSON. Every /health-under-load figure uses it (lib.mjs startHealthMonitor): a load
// generator's own event loop is too busy to time a probe fairly (6 MB JSON bodies; the admission flood's 720 MB).
import { Pool } from 'undici'

const probe = new Pool(process.argv[2], { connections: 1 })
await (await probe.request({ method: 'GET', path: '/health' })).body.dump()
let running = true
process.stdin.on('end', () => {
  running = false
})
process.stdin.resume()
console.log('ready')
const latencies = []
while (running) {
  const t0 = performance.now()
  const res = await probe.request({ method: 'GET', path: '/health' })
  await res.body.dump()
  latencies.push(performance.now() - t0)
  await new Promise((r) => setTimeout(r, 20))
}
await probe.close()
console.log(JSON.stringify(latencies))
