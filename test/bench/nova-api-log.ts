/**
 * The requests nova-api received, read from its own log: one line per request, written when
 * the answer has gone out. nova-api run as the eventlet service (as the openstack-box runs it)
 * writes its wsgi server's line:
 *   2026-12-05 05:23:51.366 15993 INFO nova.osapi_compute.wsgi.server [None req-… user project - - default default]
 *     127.0.0.1 "GET /v2.1/os-services?binary=nova-compute HTTP/1.1" status: 200 len: 604 time: 0.0357804
 * and under a WSGI server its request-log middleware writes the same fields with the
 * microversion (`… status: 200 len: 604 microversion: 2.93 time: 0.035780`). The timestamp is
 * the machine's local time; `time:` is nova-api's own time for the request, in seconds.
 *
 * Requests are counted by kind: method and path, with the version prefix dropped, ids
 * (UUIDs, 32-hex ids, numbers) written `{id}`, and of the query only its parameter names,
 * sorted: `GET /servers/detail?all_tenants&host`, `POST /servers/{id}/action`.
 */

export interface NovaApiRequest {
  /** When nova-api logged it (after answering), epoch ms. */
  at: number
  method: string
  /** The request target as logged, with its query. */
  target: string
  kind: string
  status: number
  /** nova-api's own time for it. */
  seconds: number
}

export interface NovaApiKind {
  kind: string
  count: number
  seconds: number
  /** Answered with a status of 400 or more. */
  failed: number
}

export interface NovaApiTally {
  requests: number
  seconds: number
  failed: number
  /** Most requests first. */
  kinds: NovaApiKind[]
}

const LINE =
  /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? .*?"([A-Z]+) (\S+)(?: HTTP\/[\d.]+)?" status: (\d{3}) len: \S+(?: microversion: \S+)? time: (\d+(?:\.\d+)?)/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const HEX_ID = /^[0-9a-f]{32}$/i
const NUMBER = /^\d+$/

/** The kind of a request: its method, its path with ids as `{id}`, its query's parameter names. */
export const requestKind = (method: string, target: string): string => {
  const q = target.indexOf('?')
  const rawPath = q < 0 ? target : target.slice(0, q)
  const query = q < 0 ? '' : target.slice(q + 1)
  // `/v2.1/servers` → `/servers`; the version document itself (`/v2.1/`, `/`) stays as it is.
  const path = rawPath.replace(/^\/v2(?:\.1)?(?=\/[^/])/, '')
  const segments = path.split('/').map((s) => (UUID.test(s) || HEX_ID.test(s) || NUMBER.test(s) ? '{id}' : s))
  const names = [...new Set(query.split('&').flatMap((p) => (p === '' ? [] : [decodeName(p.split('=')[0]!)])))].sort()
  return `${method} ${segments.join('/')}${names.length ? `?${names.join('&')}` : ''}`
}

const decodeName = (s: string): string => {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return s
  }
}

/** One line of nova-api's log as a request, or undefined for any other line. */
export const parseNovaApiLine = (line: string): NovaApiRequest | undefined => {
  const m = LINE.exec(line)
  if (!m) return undefined
  const [, y, mo, d, h, mi, s, frac, method, target, status, time] = m
  // Local time, as the box's services write it.
  const at = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Math.floor(Number((frac ?? '0').padEnd(3, '0').slice(0, 3)))).getTime()
  return { at, method: method!, target: target!, kind: requestKind(method!, target!), status: Number(status), seconds: Number(time) }
}

/**
 * The requests in a stretch of nova-api's log (the whole file, or what was appended to it
 * during a run), by kind; with a window, only those logged within it (epoch ms, inclusive).
 */
export const tallyNovaApiLog = (text: string, window: { from?: number; to?: number } = {}): NovaApiTally => {
  const byKind = new Map<string, NovaApiKind>()
  const tally: NovaApiTally = { requests: 0, seconds: 0, failed: 0, kinds: [] }
  for (const line of text.split('\n')) {
    const r = parseNovaApiLine(line)
    if (!r || (window.from !== undefined && r.at < window.from) || (window.to !== undefined && r.at > window.to)) continue
    let k = byKind.get(r.kind)
    if (!k) byKind.set(r.kind, (k = { kind: r.kind, count: 0, seconds: 0, failed: 0 }))
    const failed = r.status >= 400 ? 1 : 0
    k.count++
    k.seconds += r.seconds
    k.failed += failed
    tally.requests++
    tally.seconds += r.seconds
    tally.failed += failed
  }
  tally.kinds = [...byKind.values()].sort((a, b) => b.count - a.count || b.seconds - a.seconds || a.kind.localeCompare(b.kind))
  return tally
}

/** `GET /servers/{id} 101, POST /servers/{id}/action 6, … 3 more kinds (5)`: the most frequent kinds first. */
export const formatKinds = (kinds: readonly NovaApiKind[], shown = 6): string => {
  const head = kinds.slice(0, shown).map((k) => `${k.kind} ${k.count}${k.failed ? ` (${k.failed} failed)` : ''}`)
  const rest = kinds.slice(shown)
  if (rest.length) head.push(`${rest.length} more kind(s): ${rest.reduce((n, k) => n + k.count, 0)}`)
  return head.join(', ')
}
