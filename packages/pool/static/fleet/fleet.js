// The fleet page's script: plain JavaScript, no build step, no dependency. It follows the pool's view through
// server-sent events (fleet/events) and renders one row per worker. Every text the workers sent is set with
// textContent, never as HTML, so a worker's strings cannot inject markup or script.

const rows = new Map()
const tbody = document.querySelector('#fleet tbody')
const summary = document.getElementById('summary')
const connection = document.getElementById('connection')
const detail = document.getElementById('detail')
const detailTitle = document.getElementById('detail-title')
const detailBody = document.getElementById('detail-body')
let openWorker = null

/** An element with a class and text (text only: never parsed as HTML). */
function el(tag, className, text) {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined && text !== null) node.textContent = String(text)
  return node
}

function ms(value) {
  if (value === null || value === undefined) return '–'
  return value < 10 ? `${value.toFixed(2)} ms` : `${Math.round(value)} ms`
}

function loadText(w) {
  const pool = `pool ${w.active_tasks}/${w.max_concurrent_tasks}`
  const load = w.worker_load
  // A worker that does not answer has no load to show (its last figures are stale).
  if (!load || w.health === 'down' || w.health === 'refused') return pool
  return `${pool} · worker ${load.active}/${load.capacity} running, ${load.queued}/${load.queue_capacity} queued`
}

function cell(row, index) {
  while (row.cells.length <= index) row.insertCell()
  const td = row.cells[index]
  td.replaceChildren()
  return td
}

function renderRow(row, w) {
  const severe =
    w.health === 'down' ||
    w.health === 'refused' ||
    w.circuit_state === 'open' ||
    w.drifting_models.length > 0
  row.dataset.worker = w.id
  row.dataset.health = w.health
  row.className = [
    w.attention.length > 0 ? 'attention' : '',
    severe ? 'severe' : '',
    w.enabled ? '' : 'parked',
  ]
    .filter(Boolean)
    .join(' ')

  const name = cell(row, 0)
  const open = el('button', 'worker-id', w.id)
  open.type = 'button'
  open.title = 'Show the reasons from its last /health'
  open.addEventListener('click', () => showDetail(w.id))
  name.append(open, el('span', 'url', w.url))
  if (!w.enabled) name.append(el('span', 'url', 'parked (enabled: false)'))

  cell(row, 1).append(el('span', `badge ${w.health}`, w.health))
  cell(row, 2).textContent = w.device ?? '–'
  cell(row, 3).textContent = w.version ?? '–'
  cell(row, 4).append(el('span', `badge ${w.circuit_state}`, w.circuit_state.replace('_', '-')))
  cell(row, 5).textContent = loadText(w)
  const p50 = cell(row, 6)
  p50.className = 'number'
  p50.textContent = ms(w.latency_ms.p50)
  const p99 = cell(row, 7)
  p99.className = 'number'
  p99.textContent = ms(w.latency_ms.p99)
  const models = cell(row, 8)
  w.models.forEach((model, i) => {
    if (i > 0) models.append(', ')
    const drifting = w.drifting_models.some((d) => d.startsWith(`${model}:`))
    models.append(el('span', drifting ? 'drift' : '', drifting ? `${model} (drift)` : model))
  })
  const reasons = cell(row, 9)
  if (w.attention.length > 0) {
    const list = el('ul', 'reasons')
    for (const reason of w.attention) list.append(el('li', '', reason))
    reasons.append(list)
  }
}

function render(view) {
  const seen = new Set()
  for (const w of view.workers) {
    seen.add(w.id)
    let row = rows.get(w.id)
    if (!row) {
      row = tbody.insertRow()
      rows.set(w.id, row)
    }
    renderRow(row, w)
    tbody.append(row) // keeps the pool's order
  }
  for (const [id, row] of rows) {
    if (!seen.has(id)) {
      row.remove()
      rows.delete(id)
    }
  }
  const s = view.stats
  const attention = view.workers.filter((w) => w.attention.length > 0).length
  summary.textContent =
    `${s.healthy_workers} of ${s.total_workers} workers up, ${attention} need attention · ` +
    `${s.active_tasks} tasks in flight, ${s.queued_tasks} waiting · success ${(s.success_rate * 100).toFixed(1)}%`
  connection.className = 'connection'
  connection.textContent = `live, updated ${new Date(view.generated_at).toLocaleTimeString()}`
  if (openWorker !== null && !seen.has(openWorker)) hideDetail()
}

function definitions(pairs) {
  const dl = el('dl')
  for (const [term, value] of pairs) {
    if (value === null || value === undefined || value === '') continue
    dl.append(el('dt', '', term), el('dd', '', value))
  }
  return dl
}

function selfTestText(t) {
  if (!t) return '–'
  const error = t.max_abs_error === null ? '' : `, max error ${t.max_abs_error.toPrecision(3)}`
  const tolerance = t.tolerance ? ` (atol ${t.tolerance.atol}, rtol ${t.tolerance.rtol})` : ''
  return `${t.result}${error}${tolerance}`
}

async function showDetail(id) {
  openWorker = id
  detail.hidden = false
  detailTitle.textContent = `${id}: loading…`
  detailBody.replaceChildren()
  const response = await fetch(`fleet/workers/${encodeURIComponent(id)}`, {
    headers: { accept: 'application/json' },
  }).catch(() => null)
  if (openWorker !== id) return
  if (response === null) {
    detailTitle.textContent = `${id}: the pool cannot be reached`
    return
  }
  if (response.status === 401) return expired()
  if (!response.ok) {
    detailTitle.textContent = `${id}: not available (${response.status})`
    return
  }
  const report = await response.json()
  const h = report.health
  if (!h) {
    detailTitle.textContent = `${id}: no /health answer received yet`
    return
  }
  detailTitle.textContent = `${id}: ${h.status} (its last /health answer, ${new Date(report.received_at).toLocaleTimeString()})`
  detailBody.append(
    definitions([
      ['message', h.message],
      ['version', h.version],
      ['device', `${h.capabilities.device}${h.capabilities.backend ? ` (${h.capabilities.backend})` : ''}`],
      ['devices', h.capabilities.devices.join(', ')],
      ['fallback reason', h.capabilities.fallback_reason],
      [
        'OpenVINO',
        h.capabilities.openvino.loaded
          ? `loaded ${h.capabilities.openvino.version ?? ''}`
          : h.capabilities.openvino.error,
      ],
      ['unavailable tasks', (h.unavailable_tasks ?? []).map((t) => `${t.type}: ${t.reason}`).join('; ')],
      [
        'abandoned native calls',
        (h.abandoned_calls ?? []).map((c) => `${c.model}:${c.version} on ${c.thread}`).join(', '),
      ],
    ]),
  )
  const table = el('table')
  const head = table.createTHead().insertRow()
  for (const title of ['model', 'state', 'device', 'reason', 'self-test']) head.append(el('th', '', title))
  const body = table.createTBody()
  for (const m of h.models) {
    const tr = body.insertRow()
    tr.insertCell().textContent = `${m.name}:${m.version}`
    tr.insertCell().append(
      el(
        'span',
        `badge ${m.state === 'ready' ? 'healthy' : m.state === 'failed' ? 'down' : 'degraded'}`,
        m.state,
      ),
    )
    tr.insertCell().textContent = `${m.backend ?? '–'}/${m.device ?? '–'} (prefers ${m.preferred_device})`
    const why = [m.reason ?? m.error, ...m.fallback_chain.map((s) => `${s.backend}/${s.device}: ${s.reason}`)]
    tr.insertCell().textContent = why.filter(Boolean).join('; ') || '–'
    const test = tr.insertCell()
    test.textContent = selfTestText(m.self_test)
    if (m.self_test?.result === 'drift') test.className = 'drift'
  }
  detailBody.append(table)
}

function hideDetail() {
  openWorker = null
  detail.hidden = true
}

function expired() {
  connection.className = 'connection lost'
  connection.textContent = 'session ended: reload the page to log in again'
}

function connect() {
  const events = new EventSource('fleet/events')
  events.addEventListener('fleet', (event) => render(JSON.parse(event.data)))
  events.addEventListener('expired', () => {
    events.close()
    expired()
  })
  events.addEventListener('error', async () => {
    connection.className = 'connection lost'
    connection.textContent = 'connection to the pool lost; retrying…'
    if (events.readyState !== EventSource.CLOSED) return // the browser reconnects by itself
    const probe = await fetch('fleet/data').catch(() => null)
    if (probe?.status === 401) return expired()
    setTimeout(connect, 2000)
  })
}

document.getElementById('detail-close').addEventListener('click', hideDetail)
connect()
