// Lazarus operator dashboard: plain DOM code, no framework, no build step.
// Data comes from `events` (Server-Sent Events read with fetch, so that X-Auth-Token can be
// sent) relative to this page; `session` says whether a token is needed and accepted.
// Operator actions (release a held failure, release all by resuming a paused segment) call
// the api's own `/v1` endpoints with the same token: its policy decides, its refusal is shown.

const TOKEN_KEY = 'lazarus.dashboard.token'
const FINAL = new Set(['finished', 'failed', 'ignored'])

let token = sessionStorage.getItem(TOKEN_KEY) ?? ''
/** @type {any} */
let snapshot = null
/** @type {Map<string, string>} host name → state last shown */
const shownStates = new Map()
/** @type {Map<string, {kind: 'error' | 'done', text: string}>} segment uuid → outcome of its last action */
const outcomes = new Map()
/** @type {Set<string>} actions under way ("release:<notification>", "resume:<segment>") */
const pending = new Set()

/** Whether the api computes segments' capacity and lets this token read it (`session`'s `capacity`). */
let capacityEnabled = false
/** @type {Map<string, {below: boolean, text: string, at: number}>} segment uuid → its capacity line */
const capacities = new Map()
/** @type {Set<string>} segments whose capacity is being read */
const capacityPending = new Set()
/** How long a segment's capacity is shown before it is read again. */
const CAPACITY_REFRESH_MS = 60_000

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id))

/** Build an element: h('td', { class: 'x', dataset: { a: '1' } }, 'text', child). Text is always text, never HTML. */
const h = (tag, attrs = {}, ...children) => {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'dataset') Object.assign(el.dataset, v)
    else if (k === 'class') el.className = v
    else if (k === 'text') el.textContent = v
    else el.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue
    el.append(c instanceof Node ? c : document.createTextNode(String(c)))
  }
  return el
}

const ms = (iso) => (iso ? Date.parse(iso) : NaN)
const clock = (iso) => {
  if (!iso) return '–'
  const d = new Date(iso)
  return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`
}
const dateTime = (iso) => (iso ? `${new Date(iso).toLocaleDateString()} ${clock(iso)}` : '–')
const secs = (from, to) => {
  const d = ms(to) - ms(from)
  return Number.isFinite(d) ? `${(Math.max(0, d) / 1000).toFixed(d < 10_000 ? 2 : 1)} s` : '–'
}
const time = (iso, text) => h('time', { datetime: iso ?? undefined }, text ?? clock(iso))

// ---------------------------------------------------------------- connection and auth

const setConn = (state, text) => {
  const el = $('conn')
  el.dataset.conn = state
  el.textContent = text
}

const headers = () => (token ? { 'X-Auth-Token': token } : {})

/** Ask the server whether a token is needed and whether ours is accepted (never a 401). */
const session = async () => {
  const r = await fetch('session', { headers: headers(), cache: 'no-store' })
  if (!r.ok) throw new Error(`session: HTTP ${r.status}`)
  return r.json()
}

/** Show the token form and resolve once a token the server accepts was entered. */
const askToken = (message) =>
  new Promise((resolve) => {
    const dialog = /** @type {HTMLDialogElement} */ ($('token-dialog'))
    const form = /** @type {HTMLFormElement} */ ($('token-form'))
    const input = /** @type {HTMLInputElement} */ ($('token-input'))
    const error = $('token-error')
    const show = (text) => {
      error.textContent = text ?? ''
      error.hidden = !text
    }
    show(message)
    const onSubmit = async (e) => {
      e.preventDefault()
      token = input.value.trim()
      const s = await session().catch(() => ({ authenticated: false, error: 'The server could not be reached.' }))
      if (!s.authenticated) {
        show(s.error ?? 'That token was not accepted.')
        input.select()
        return
      }
      sessionStorage.setItem(TOKEN_KEY, token)
      form.removeEventListener('submit', onSubmit)
      input.value = ''
      dialog.close()
      resolve()
    }
    form.addEventListener('submit', onSubmit)
    if (!dialog.open) dialog.showModal()
    input.focus()
  })

const ensureAuth = async () => {
  let s = await session()
  $('change-token').hidden = !s.auth_required
  if (s.auth_required && !s.authenticated) {
    sessionStorage.removeItem(TOKEN_KEY)
    setConn('auth', 'Waiting for an API token')
    await askToken(token ? 'The saved token is no longer accepted.' : undefined)
    s = await session()
  }
  capacityEnabled = s.capacity === true
}

/** Read one SSE stream to its end, handing each event to `onEvent`. */
const readEvents = async (res, onEvent, signal) => {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  signal.addEventListener('abort', () => void reader.cancel().catch(() => {}))
  let buffer = ''
  let event = 'message'
  let data = []
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    buffer += value
    let nl
    while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1))
      if (line === '') {
        if (data.length > 0) onEvent(event, data.join('\n'))
        event = 'message'
        data = []
      } else if (line.startsWith(':')) {
        // comment: keep-alive
      } else {
        const i = line.indexOf(':')
        const field = i < 0 ? line : line.slice(0, i)
        const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '')
        if (field === 'event') event = val
        else if (field === 'data') data.push(val)
      }
    }
  }
}

let current = new AbortController()

const connect = async () => {
  let delay = 500
  for (;;) {
    current = new AbortController()
    try {
      await ensureAuth()
      setConn('connecting', 'Connecting…')
      const res = await fetch('events', { headers: { ...headers(), accept: 'text/event-stream' }, cache: 'no-store', signal: current.signal })
      if (res.status === 401 || res.status === 403) throw new Error('the token was refused')
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`)
      setConn('live', 'Live')
      delay = 500
      await readEvents(
        res,
        (event, data) => {
          if (event === 'snapshot') {
            snapshot = JSON.parse(data)
            render()
          }
        },
        current.signal,
      )
      if (!current.signal.aborted) setConn('reconnecting', 'Stream ended; reconnecting…')
    } catch (err) {
      if (!current.signal.aborted) setConn('reconnecting', `Disconnected (${err instanceof Error ? err.message : String(err)}); retrying…`)
    }
    await new Promise((r) => setTimeout(r, delay))
    delay = Math.min(delay * 2, 5000)
  }
}

// ---------------------------------------------------------------- rendering

const render = () => {
  if (!snapshot) return
  renderSegments(snapshot.segments)
  renderRecoveries(snapshot.recoveries)
  renderFinished(snapshot.finished)
  renderHistory()
  const el = $('conn')
  if (el.dataset.conn === 'live') el.textContent = `Live · updated ${clock(new Date().toISOString())}`
}

const renderSegments = (segments) => {
  const root = $('segments')
  if (segments.length === 0) {
    root.replaceChildren(h('p', { class: 'empty' }, 'No failover segments yet.'))
    return
  }
  const changes = []
  root.replaceChildren(
    ...segments.map((s) => {
      const tiles = s.hosts.map((host) => {
        const before = shownStates.get(host.name)
        if (before !== undefined && before !== host.state) changes.push(`${host.name} is now ${host.state}`)
        shownStates.set(host.name, host.state)
        const label = `${host.name}: ${host.state}${host.note ? ` (${host.note})` : ''}`
        const inner = [h('span', { class: 'host-name' }, host.name), h('span', { class: 'host-state' }, host.state)]
        return h(
          'li',
          { class: 'host', dataset: { host: host.name, state: host.state }, title: label },
          host.notification_uuid ? h('a', { href: `#n-${host.notification_uuid}`, 'aria-label': label }, ...inner) : h('span', { 'aria-label': label }, ...inner),
        )
      })
      return h(
        'div',
        { class: 'segment', dataset: { segment: s.name } },
        h(
          'h3',
          {},
          s.name,
          h('span', { class: 'meta' }, ` ${s.recovery_method} · level ${s.quick_evacuate_level}${s.enabled ? '' : ' · disabled'} · ${s.hosts.length} hosts`),
        ),
        capacityLine(s),
        s.hosts.length ? h('ul', { class: 'grid', 'aria-label': `Hosts of segment ${s.name}` }, tiles) : h('p', { class: 'empty' }, 'No hosts.'),
        pausePanel(s),
      )
    }),
  )
  if (changes.length) $('announce').textContent = changes.join('. ')
}

/** `tolerates k host failure(s)`, and when below its target the reserved capacity needed. */
const capacityText = (c) => {
  let text = `tolerates ${c.host_failures_tolerated} host failure(s)`
  if (c.below_target) {
    const need = ['VCPU', 'MEMORY_MB', 'DISK_GB']
      .filter((k) => (c.reserved_needed?.[k] ?? 0) > 0)
      .map((k) => `${k} ${c.reserved_needed[k]}`)
      .join(', ')
    text += ` · below its target of ${c.capacity_target}${need ? `: reserved capacity needed ${need}` : ''}`
  }
  return { below: c.below_target === true, text }
}

/** Read a segment's capacity from the api (`GET /v1/segments/{id}/capacity`), then render again. */
const loadCapacity = async (uuid) => {
  if (capacityPending.has(uuid)) return
  capacityPending.add(uuid)
  try {
    const r = await fetch(`../v1/segments/${encodeURIComponent(uuid)}/capacity`, { headers: { ...headers(), accept: 'application/json' }, cache: 'no-store' })
    const body = await r.json().catch(() => null)
    if (r.ok && body?.capacity) capacities.set(uuid, { ...capacityText(body.capacity), at: Date.now() })
    else {
      const fault = body && typeof body === 'object' ? Object.values(body)[0] : undefined
      capacities.set(uuid, { below: false, text: `capacity unknown: ${fault?.message ?? `HTTP ${r.status}`}`, at: Date.now() })
    }
  } catch (err) {
    capacities.set(uuid, { below: false, text: `capacity unknown: ${err instanceof Error ? err.message : String(err)}`, at: Date.now() })
  } finally {
    capacityPending.delete(uuid)
    render()
  }
}

/** The segment's capacity line (read when missing or older than CAPACITY_REFRESH_MS), or nothing. */
const capacityLine = (s) => {
  if (!capacityEnabled || s.hosts.length === 0) return null
  const c = capacities.get(s.uuid)
  if (!c || Date.now() - c.at > CAPACITY_REFRESH_MS) void loadCapacity(s.uuid)
  return h('p', { class: c?.below ? 'capacity below' : 'capacity' }, c ? c.text : 'capacity: reading…')
}

const resumeLabel = (count) => (count === 0 ? 'Resume' : count === 1 ? 'Release the held failure and resume' : `Release all ${count} held and resume`)

/** A paused segment: why and since when, its held failures each with Release, and Release all (resume). */
const pausePanel = (s) => {
  const outcome = outcomes.get(s.uuid)
  const result = outcome ? h('p', { class: outcome.kind === 'error' ? 'outcome error' : 'outcome', role: outcome.kind === 'error' ? 'alert' : 'status' }, outcome.text) : null
  if (!s.pause && s.held.length === 0) return result
  const who = s.pause ? (s.pause.by === 'storm_guard' ? 'by the storm guard' : 'by an operator') : ''
  return h(
    'div',
    { class: 'pause', dataset: { paused: s.pause ? s.pause.by : 'no' } },
    s.pause
      ? h(
          'p',
          { class: 'pause-reason' },
          h('strong', {}, `Automatic recovery paused ${who}`),
          s.pause.since ? [' since ', time(s.pause.since, dateTime(s.pause.since))] : null,
          s.pause.reason ? `: ${s.pause.reason}` : '',
        )
      : null,
    s.held.length
      ? h(
          'ul',
          { class: 'held', 'aria-label': `Held failures of segment ${s.name}` },
          s.held.map((n) =>
            h(
              'li',
              { dataset: { notification: n.notification_uuid, host: n.hostname } },
              h('span', { class: 'held-host' }, n.hostname),
              h('span', { class: 'meta' }, ` ${n.type} · `, time(n.created_at, dateTime(n.created_at)), ` · ${n.notification_uuid}`),
              h(
                'button',
                { type: 'button', class: 'action', dataset: { action: 'release', notification: n.notification_uuid, segment: s.uuid, host: n.hostname }, disabled: pending.has(`release:${n.notification_uuid}`) },
                'Release',
              ),
              n.message ? h('span', { class: 'msg' }, n.message) : null,
            ),
          ),
        )
      : h('p', { class: 'empty' }, 'No failure held.'),
    s.pause
      ? h(
          'p',
          { class: 'actions' },
          h(
            'button',
            { type: 'button', class: 'action', dataset: { action: 'resume', segment: s.uuid, name: s.name, held: String(s.held.length) }, disabled: pending.has(`resume:${s.uuid}`) },
            resumeLabel(s.held.length),
          ),
        )
      : null,
    result,
  )
}

const countsLine = (c) =>
  h(
    'ul',
    { class: 'counts', 'aria-label': 'Instances by status' },
    ['pending', 'ongoing', 'succeeded', 'failed'].map((k) => h('li', { dataset: { status: k } }, h('strong', {}, String(c[k])), ` ${k}`)),
  )

const vmoveTable = (vmoves) =>
  h(
    'table',
    { class: 'vmoves' },
    h('thead', {}, h('tr', {}, ['Instance', 'From', 'To', 'Status', 'Took'].map((t) => h('th', { scope: 'col' }, t)))),
    h(
      'tbody',
      {},
      vmoves.map((v) =>
        h(
          'tr',
          { dataset: { instance: v.instance_name, status: v.status, dest: v.dest_host ?? '' } },
          h('td', {}, v.instance_name),
          h('td', {}, v.source_host ?? '–'),
          h('td', { class: 'dest' }, v.dest_host ?? '–'),
          h('td', {}, h('span', { class: 'badge', dataset: { status: v.status } }, v.status), v.message ? h('span', { class: 'msg' }, ` ${v.message}`) : null),
          h('td', {}, v.start_time && v.end_time ? secs(v.start_time, v.end_time) : '–'),
        ),
      ),
    ),
  )

const recoveryHeader = (r) => {
  const n = r.notification
  return h(
    'header',
    {},
    h('h3', {}, `${n.hostname} `, h('span', { class: 'meta' }, `${n.type} · ${n.segment_name ?? n.failover_segment_uuid}`)),
    h('span', { class: 'badge', dataset: { status: n.status } }, n.status),
    n.held ? h('span', { class: 'badge held-badge' }, 'held') : null,
    r.phase ? h('span', { class: 'badge phase', dataset: { state: r.phase } }, r.phase) : null,
  )
}

const renderRecoveries = (recoveries) => {
  const root = $('recoveries')
  if (recoveries.length === 0) {
    root.replaceChildren(h('p', { class: 'empty' }, 'No recovery in flight.'))
    return
  }
  root.replaceChildren(
    ...recoveries.map((r) => {
      const n = r.notification
      const total = r.vmoves.length
      const done = r.counts.succeeded + r.counts.failed + r.counts.ignored
      const value = r.evacuation_progress ?? (total ? done / total : 0)
      const last = r.steps[r.steps.length - 1]
      return h(
        'article',
        { class: 'recovery', id: `n-${n.notification_uuid}`, dataset: { notification: n.notification_uuid, phase: r.phase ?? '' } },
        recoveryHeader(r),
        h('p', { class: 'meta' }, 'Received ', time(n.created_at), ` · running for ${secs(n.created_at, new Date().toISOString())}`),
        n.held
          ? h('p', { class: 'step' }, h('strong', {}, 'Held'), ' while the segment is paused: nothing is done until an operator releases it (Hosts, above).')
          : last
            ? h('p', { class: 'step' }, h('strong', {}, last.label), ` ${last.state}: ${last.message}`)
            : h('p', { class: 'step' }, 'Waiting for the detector.'),
        h('label', { class: 'progress' }, 'Evacuation ', h('progress', { max: '1', value: String(value) }, `${Math.round(value * 100)}%`), ` ${Math.round(value * 100)}%`),
        countsLine(r.counts),
        total ? vmoveTable(r.vmoves) : null,
      )
    }),
  )
}

/** The timeline of one recovery: reported → detected → fence → force-down → fenced → evacuations, each with its time. */
const timeline = (r) => {
  const n = r.notification
  const rows = [
    { key: 'reported', label: 'reported by monitor', phase: 'detection', state: 'success', from: n.generated_time, to: n.created_at, message: `received by the api at ${clock(n.created_at)}` },
    ...r.steps.map((s) => ({ key: s.task, label: s.label, phase: s.phase, state: s.state, from: s.started_at, to: s.ended_at, message: s.message })),
    ...r.vmoves.map((v) => ({
      key: `vmove:${v.instance_name}`,
      label: `${v.instance_name} → ${v.dest_host ?? '(not moved)'}`,
      phase: 'instance',
      state: v.status,
      from: v.start_time,
      to: v.end_time,
      message: v.message ?? `from ${v.source_host ?? '?'}`,
    })),
  ]
  const t0 = Math.min(...rows.map((x) => ms(x.from)).filter(Number.isFinite))
  const tEnd = Math.max(ms(n.updated_at), ...rows.map((x) => ms(x.to)).filter(Number.isFinite))
  const span = Math.max(1, tEnd - t0)
  const offset = (iso) => `+${((ms(iso) - t0) / 1000).toFixed(2)} s`
  return h(
    'article',
    { class: 'timeline', id: `n-${n.notification_uuid}`, dataset: { notification: n.notification_uuid, status: n.status } },
    recoveryHeader(r),
    h('p', { class: 'meta' }, `Took ${secs(new Date(t0).toISOString(), new Date(tEnd).toISOString())} from the report to the end`, n.message ? ` · ${n.message}` : ''),
    h('div', { class: 'steps-head', 'aria-hidden': 'true' }, h('span', {}, 'step'), h('span', {}, 'done at (since report)'), h('span', {}, 'took'), h('span', {}, 'when')),
    h(
      'ol',
      { class: 'steps', 'aria-label': `Steps of the recovery of ${n.hostname}` },
      rows.map((x) => {
        const bar = h('span', { class: 'bar', dataset: { phase: x.phase, state: x.state } })
        const from = ms(x.from)
        const to = ms(x.to)
        if (Number.isFinite(from)) {
          bar.style.left = `${((from - t0) / span) * 100}%`
          bar.style.width = `max(3px, ${(((Number.isFinite(to) ? to : from) - from) / span) * 100}%)`
        }
        return h(
          'li',
          { dataset: { task: x.key, phase: x.phase, state: x.state }, title: x.message },
          h('span', { class: 'step-label' }, x.label),
          h('span', { class: 'step-time' }, time(x.to ?? x.from), ' ', h('span', { class: 'offset' }, x.to ? offset(x.to) : '')),
          h('span', { class: 'step-took' }, x.from && x.to ? secs(x.from, x.to) : '–'),
          h('span', { class: 'track', 'aria-hidden': 'true' }, bar),
        )
      }),
    ),
  )
}

const renderFinished = (finished) => {
  const root = $('finished')
  root.replaceChildren(...(finished.length ? finished.map(timeline) : [h('p', { class: 'empty' }, 'No host recovery has ended yet.')]))
}

const filterValues = () => {
  const form = /** @type {HTMLFormElement} */ ($('filters'))
  const data = new FormData(form)
  return { status: String(data.get('status') ?? ''), type: String(data.get('type') ?? ''), host: String(data.get('host') ?? '') }
}

const syncHostOptions = () => {
  const select = /** @type {HTMLSelectElement} */ ($('filters').querySelector('select[name=host]'))
  const names = new Set([...snapshot.segments.flatMap((s) => s.hosts.map((x) => x.name)), ...snapshot.history.map((n) => n.hostname)])
  const wanted = ['', ...[...names].sort()]
  const have = [...select.options].map((o) => o.value)
  if (wanted.join('\n') === have.join('\n')) return
  const chosen = select.value
  select.replaceChildren(...wanted.map((v) => h('option', { value: v }, v || 'any')))
  select.value = wanted.includes(chosen) ? chosen : ''
}

const renderHistory = () => {
  if (!snapshot) return
  syncHostOptions()
  const f = filterValues()
  const rows = snapshot.history.filter((n) => (!f.status || n.status === f.status) && (!f.type || n.type === f.type) && (!f.host || n.hostname === f.host))
  $('history-count').textContent = `${rows.length} of the latest ${snapshot.history.length} notifications${snapshot.history.length >= snapshot.history_limit ? ' (older ones: GET /v1/notifications)' : ''}`
  $('history')
    .querySelector('tbody')
    .replaceChildren(
      ...rows.map((n) =>
        h(
          'tr',
          { dataset: { notification: n.notification_uuid, status: n.status, type: n.type, host: n.hostname } },
          h('td', {}, time(n.created_at, dateTime(n.created_at))),
          h('td', {}, n.hostname),
          h('td', {}, n.segment_name ?? '–'),
          h('td', {}, n.type),
          h('td', {}, h('span', { class: 'badge', dataset: { status: n.status } }, n.status)),
          h('td', {}, FINAL.has(n.status) ? secs(n.created_at, n.updated_at) : '–'),
          h('td', { class: 'msg' }, n.message ?? ''),
        ),
      ),
    )
}

// ---------------------------------------------------------------- operator actions

/** Ask before an action that cannot be undone; resolves true on confirm. */
const confirmAction = (title, text, ok) =>
  new Promise((resolve) => {
    const dialog = /** @type {HTMLDialogElement} */ ($('confirm-dialog'))
    $('confirm-title').textContent = title
    $('confirm-text').textContent = text
    $('confirm-ok').textContent = ok
    const done = (answer) => {
      $('confirm-ok').removeEventListener('click', onOk)
      $('confirm-cancel').removeEventListener('click', onCancel)
      dialog.removeEventListener('close', onCancel)
      if (dialog.open) dialog.close()
      resolve(answer)
    }
    const onOk = () => done(true)
    const onCancel = () => done(false)
    $('confirm-ok').addEventListener('click', onOk)
    $('confirm-cancel').addEventListener('click', onCancel)
    dialog.addEventListener('close', onCancel)
    dialog.showModal()
    $('confirm-cancel').focus()
  })

/** POST to the api's /v1 (beside /dashboard/) with the operator's token; the api's refusal text on failure. */
const post = async (path, body) => {
  const r = await fetch(`../v1/${path}`, {
    method: 'POST',
    headers: { ...headers(), 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
    cache: 'no-store',
  })
  const text = await r.text()
  if (r.ok) return text ? JSON.parse(text) : {}
  let message = ''
  try {
    // Masakari's fault shape: {"conflictingRequest": {"code": 409, "message": "..."}}
    const fault = Object.values(JSON.parse(text))[0]
    if (fault && typeof fault.message === 'string') message = fault.message
  } catch {
    message = text.slice(0, 300)
  }
  throw new Error(`HTTP ${r.status}${message ? `: ${message}` : ''}`)
}

const act = async (button) => {
  const { action, segment, notification, host, name, held } = button.dataset
  let key
  let call
  let success
  if (action === 'release') {
    key = `release:${notification}`
    call = () => post(`notifications/${encodeURIComponent(notification)}/release`, {})
    success = `Released the failure of ${host}: its recovery starts; the segment stays paused.`
  } else if (action === 'resume') {
    const count = Number(held)
    const ok = await confirmAction(
      `Resume ${name}?`,
      count
        ? `Automatic recovery resumes and the ${count} held failure${count === 1 ? '' : 's'} of ${name} ${count === 1 ? 'is' : 'are'} released: those hosts are fenced and their instances evacuated.`
        : `Automatic recovery of ${name} resumes.`,
      resumeLabel(count),
    )
    if (!ok) return
    key = `resume:${segment}`
    call = () => post(`segments/${encodeURIComponent(segment)}/resume`, { release_held: true })
    success = `Resumed ${name}${count ? `: ${count} held failure${count === 1 ? '' : 's'} released` : ''}.`
  } else return
  if (pending.has(key)) return
  pending.add(key)
  outcomes.delete(segment)
  render()
  try {
    await call()
    outcomes.set(segment, { kind: 'done', text: success })
  } catch (err) {
    outcomes.set(segment, { kind: 'error', text: `Refused: ${err instanceof Error ? err.message : String(err)}` })
  } finally {
    pending.delete(key)
    render()
  }
}

// ---------------------------------------------------------------- start

$('segments').addEventListener('click', (e) => {
  const button = e.target instanceof Element ? e.target.closest('button[data-action]') : null
  if (button instanceof HTMLButtonElement && !button.disabled) void act(button)
})

$('filters').addEventListener('change', renderHistory)
$('filters').addEventListener('submit', (e) => e.preventDefault())
$('change-token').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY)
  token = ''
  current.abort()
})
void connect()
