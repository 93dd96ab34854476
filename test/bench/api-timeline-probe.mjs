// Preloaded into the api under test/bench/api-notifications.ts --timeline (node --import=<this
// file>, LAZARUS_TIMELINE_FILE set): what the api's own process saw, with wall-clock times
// (performance.timeOrigin + performance.now(), the bench's clock too), appended as JSON lines
// every 250 ms:
//   {"k":"lag","t":…,"ms":…}          a 10 ms timer that fired ms late (only lateness ≥ 5 ms);
//   {"k":"gc","t":…,"ms":…,"kind":…}  a GC pause (PerformanceObserver 'gc': major, minor, …);
//   {"k":"req","t":…,"ms":…,"seq":…}  an HTTP request: parsed by the api at t, answered ms later
//                                     (the bench's x-bench-seq header names it).
import { subscribe } from 'node:diagnostics_channel'
import { appendFileSync } from 'node:fs'
import { constants, PerformanceObserver, performance } from 'node:perf_hooks'

const file = process.env.LAZARUS_TIMELINE_FILE
if (!file) throw new Error('api-timeline-probe: LAZARUS_TIMELINE_FILE is not set')
const wall = () => performance.timeOrigin + performance.now()
let lines = []
const flush = () => {
  if (lines.length === 0) return
  appendFileSync(file, lines.join('\n') + '\n')
  lines = []
}

const TICK_MS = 10
let expected = performance.now() + TICK_MS
setInterval(() => {
  const now = performance.now()
  const late = now - expected
  if (late >= 5) lines.push(`{"k":"lag","t":${wall().toFixed(1)},"ms":${late.toFixed(1)}}`)
  expected = now + TICK_MS
}, TICK_MS).unref()

const GC_KINDS = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
}
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = GC_KINDS[e.detail?.kind] ?? String(e.detail?.kind)
    lines.push(`{"k":"gc","t":${(performance.timeOrigin + e.startTime).toFixed(1)},"ms":${e.duration.toFixed(2)},"kind":"${kind}"}`)
  }
}).observe({ entryTypes: ['gc'] })

const started = new WeakMap()
subscribe('http.server.request.start', ({ request }) => {
  const seq = request.headers['x-bench-seq']
  if (seq !== undefined) started.set(request, { t: wall(), seq: Number(seq) })
})
subscribe('http.server.response.finish', ({ request }) => {
  const s = started.get(request)
  if (s) lines.push(`{"k":"req","t":${s.t.toFixed(1)},"ms":${(wall() - s.t).toFixed(2)},"seq":${s.seq}}`)
})

setInterval(flush, 250).unref()
process.on('exit', flush)
