/*
 * The api notification bench's timeline (`--timeline DIR`): what every process on the machine
 * did while the requests of a run were slow, to tell whose fault a stall is.
 *
 *   - per request: when it was due, when the load generator sent it, when the api read it and
 *     answered it (test/bench/api-timeline-probe.mjs, preloaded into the api, matches it by its
 *     x-bench-seq header), when the answer was back and when its event was delivered;
 *   - the api's event-loop lateness and GC pauses (the same probe), the load generator's
 *     event-loop lateness;
 *   - every 100 ms from /proc: CPU of the api, this database's PostgreSQL backends, PostgreSQL's
 *     own processes (checkpointer, WAL writer, autovacuum…), other databases' backends,
 *     RabbitMQ, the load generator, and everything else on the machine (total busy minus
 *     those), the machine's runnable tasks and iowait;
 *   - every 100 ms from pg_stat_activity: this database's backends that are active, and what
 *     they and PostgreSQL's own processes wait on; pg_stat_bgwriter and pg_stat_wal before and
 *     after each run (checkpoints, WAL syncs).
 *
 * Each run is written to DIR/<load>-run<N>.json; a summary of where the slow requests' time
 * went, and the 100 ms windows they fall in, goes to stderr.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { cpuSecondsByPid } from '../support/process-cpu.js'

const TICKS_PER_S = 100
const WINDOW_MS = 100
export const SLOW_MS = 50

const wallNow = () => performance.timeOrigin + performance.now()

type Part = 'api' | 'pgOurs' | 'pgAux' | 'pgOther' | 'rabbitmq' | 'bench' | 'others'
const PARTS: Part[] = ['api', 'pgOurs', 'pgAux', 'pgOther', 'rabbitmq', 'bench', 'others']

/** One /proc and pg_stat_activity reading. CPU is ms of CPU used since the previous sample. */
interface Sample {
  t: number
  /** ms since the previous sample. */
  dt: number
  cpuMs: Record<Part, number>
  /** Machine: ms of CPU busy (all cores), iowait ms, and runnable tasks now. */
  busyMs: number
  iowaitMs: number
  runnable: number
  /** ms the api's and the load generator's event-loop threads waited for a CPU. */
  apiWaitMs: number
  benchWaitMs: number
  /** The other processes that used most CPU in the window: `name ms, …`. */
  topOthers: string
  /** This database's backends that are active, and wait events (`type:event×n`) of them and PostgreSQL's own processes. */
  pgActive?: number
  pgWaits?: string
}

export interface RequestTimes {
  seq: number
  /** Wall-clock ms: due, sent by the load generator, answer back; in-flight requests when sent. */
  due: number
  sent: number
  done?: number
  inFlight: number
  id?: string
}

interface ProbeLine {
  k: 'lag' | 'gc' | 'req'
  t: number
  ms: number
  kind?: string
  seq?: number
}

/**
 * The machine's RabbitMQ: the system service's node (other nodes may run for other work), or
 * any RabbitMQ node where no such service runs.
 */
export const rabbitmqPattern = (): RegExp => {
  const service = /beam\.smp.* -home \/var\/lib\/rabbitmq /
  return cpuSecondsByPid(service).size > 0 ? service : /beam\.smp/
}

/**
 * Milliseconds the process's main thread (its event loop) has so far spent ready to run but
 * waiting for a CPU (/proc/PID/schedstat, second field, ns): CPU contention, seen from it.
 */
export const runQueueWaitMs = (pid: string): number => {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6
  } catch {
    return Number.NaN
  }
}

const readProcStat = () => {
  const text = readFileSync('/proc/stat', 'utf8')
  const cpu = (/^cpu\s+(.*)$/m.exec(text)?.[1] ?? '').split(/\s+/).map(Number)
  const [user = 0, nice = 0, system = 0, , iowait = 0, irq = 0, softirq = 0, steal = 0] = cpu
  return {
    busy: ((user + nice + system + irq + softirq + steal) * 1000) / TICKS_PER_S,
    iowait: (iowait * 1000) / TICKS_PER_S,
    runnable: Number(/^procs_running (\d+)/m.exec(text)?.[1] ?? 0),
  }
}

/** Samples the machine every 100 ms while a run goes; also measures the load generator's own event-loop lateness. */
export const startTimeline = (opts: { dir: string; apiPid: number; dbName: string; dbUrl: string; probeFile: string }) => {
  const rabbitmq = rabbitmqPattern()
  const classOf = new Map<string, Exclude<Part, 'others'> | null>()
  const classify = (pid: string): Exclude<Part, 'others'> | null => {
    let c = classOf.get(pid)
    if (c !== undefined) return c
    c = null
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
      if (Number(pid) === opts.apiPid) c = 'api'
      else if (Number(pid) === process.pid) c = 'bench'
      else if (rabbitmq.test(cmd)) c = 'rabbitmq'
      else if (cmd.startsWith('postgres: ')) {
        if (cmd.includes(` ${opts.dbName} `)) c = 'pgOurs'
        else if (/checkpointer|walwriter|background writer|autovacuum|logical replication|archiver|walsender|startup/.test(cmd)) c = 'pgAux'
        else c = 'pgOther'
      } else if (/^\S*postgres\b/.test(cmd)) c = 'pgAux' // the postmaster
    } catch {
      // Gone.
    }
    classOf.set(pid, c)
    return c
  }
  const cpuByPid = new Map<string, number>()
  /** CPU ms each part used since the last call, and the other processes that used most (by command name). */
  const readParts = (): { used: Record<Part, number>; top: string } => {
    const used = Object.fromEntries(PARTS.map((p) => [p, 0])) as Record<Part, number>
    const others = new Map<string, number>()
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      const c = classify(pid)
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        const ms = ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_S
        const before = cpuByPid.get(pid)
        cpuByPid.set(pid, ms)
        if (before === undefined || ms === before) continue
        if (c) used[c] += ms - before
        else {
          const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
          others.set(name, (others.get(name) ?? 0) + ms - before)
        }
      } catch {
        // Gone meanwhile.
      }
    }
    const top = [...others].sort((a, b) => b[1] - a[1]).slice(0, 3)
    return { used, top: top.map(([name, ms]) => `${name} ${ms.toFixed(0)}`).join(', ') }
  }

  const samples: Sample[] = []
  const benchLag: { t: number; ms: number }[] = []
  let running = false
  let lastStat = readProcStat()
  let lastT = wallNow()
  let lastWait = { api: runQueueWaitMs(String(opts.apiPid)), bench: runQueueWaitMs(String(process.pid)) }
  readParts()
  const pgClient = new pg.Client({ connectionString: opts.dbUrl })
  const pgReady = pgClient.connect().then(
    () => true,
    () => false,
  )
  let pgBusy = false
  const sampleTimer = setInterval(() => {
    if (!running) return
    const stat = readProcStat()
    const { used: cpuMs, top } = readParts()
    const busyMs = stat.busy - lastStat.busy
    const ours = PARTS.filter((p) => p !== 'others').reduce((a, p) => a + cpuMs[p], 0)
    cpuMs.others = Math.max(0, busyMs - ours)
    const t = wallNow()
    const wait = { api: runQueueWaitMs(String(opts.apiPid)), bench: runQueueWaitMs(String(process.pid)) }
    const sample: Sample = {
      t,
      dt: t - lastT,
      cpuMs,
      busyMs,
      iowaitMs: stat.iowait - lastStat.iowait,
      runnable: stat.runnable,
      apiWaitMs: wait.api - lastWait.api,
      benchWaitMs: wait.bench - lastWait.bench,
      topOthers: top,
    }
    lastWait = wait
    lastStat = stat
    lastT = t
    samples.push(sample)
    if (pgBusy) return
    pgBusy = true
    void pgClient
      .query<{ ours: boolean; state: string | null; wait: string | null; n: string }>(
        `SELECT datname = $1 AS ours, state, wait_event_type || ':' || wait_event AS wait, count(*) AS n FROM pg_stat_activity
          WHERE pid <> pg_backend_pid() AND (datname = $1 OR backend_type <> 'client backend') GROUP BY 1, 2, 3`,
        [opts.dbName],
      )
      .then((r) => {
        sample.pgActive = r.rows.filter((x) => x.ours && x.state === 'active').reduce((a, x) => a + Number(x.n), 0)
        sample.pgWaits = r.rows
          .filter((x) => x.wait && !/^Activity:|^Client:ClientRead/.test(x.wait))
          .map((x) => `${x.ours ? '' : 'aux '}${x.wait}×${x.n}`)
          .join(' ')
      })
      .catch(() => {})
      .finally(() => {
        pgBusy = false
      })
  }, WINDOW_MS)
  let expected = performance.now() + 10
  const lagTimer = setInterval(() => {
    const now = performance.now()
    if (running && now - expected >= 5) benchLag.push({ t: wallNow(), ms: now - expected })
    expected = now + 10
  }, 10)

  const pgCounters = async () => {
    if (!(await pgReady)) return {}
    const bg = await pgClient.query(
      'SELECT checkpoints_timed, checkpoints_req, checkpoint_write_time, checkpoint_sync_time, buffers_checkpoint, buffers_backend_fsync FROM pg_stat_bgwriter',
    )
    const wal = await pgClient.query('SELECT wal_records, wal_bytes, wal_write, wal_sync, wal_write_time, wal_sync_time FROM pg_stat_wal')
    return { ...bg.rows[0], ...wal.rows[0] } as Record<string, string | number>
  }

  return {
    /** Start recording a run; returns what ends it and writes its report. */
    async begin(label: string) {
      await pgReady
      const pgBefore = await pgCounters()
      const from = wallNow()
      samples.length = 0
      benchLag.length = 0
      lastStat = readProcStat()
      lastT = wallNow()
      lastWait = { api: runQueueWaitMs(String(opts.apiPid)), bench: runQueueWaitMs(String(process.pid)) }
      readParts()
      running = true
      return {
        async end(requests: RequestTimes[], arrived: Map<string, number>, lags: { occurredAt: number; at: number }[]) {
          running = false
          const to = wallNow()
          const pgAfter = await pgCounters()
          const probe = readProbe(opts.probeFile, from - 1000, to + 1000)
          const report = summarise({ label, requests, arrived, lags, samples: [...samples], benchLag: [...benchLag], probe, pgBefore, pgAfter, from })
          writeFileSync(
            join(opts.dir, `${label.replace(/\W+/g, '-')}.json`),
            JSON.stringify({
              label,
              from,
              to,
              requests,
              samples,
              benchLag,
              probe,
              pgBefore,
              pgAfter,
              lags,
              arrived: Object.fromEntries(requests.filter((r) => r.id && arrived.has(r.id)).map((r) => [r.seq, arrived.get(r.id as string)])),
            }),
          )
          return report
        },
      }
    },
    async close() {
      clearInterval(sampleTimer)
      clearInterval(lagTimer)
      await pgClient.end().catch(() => {})
    },
  }
}

const readProbe = (file: string, from: number, to: number): ProbeLine[] => {
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return []
  }
  const out: ProbeLine[] = []
  for (const line of text.split('\n')) {
    if (!line) continue
    const p = JSON.parse(line) as ProbeLine
    if (p.t >= from && p.t <= to) out.push(p)
  }
  return out
}

const q = (xs: number[], p: number) => {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number
}
const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '—')

/** Where the slow requests' time went, and what every process did in the windows they were due in. */
const summarise = (r: {
  label: string
  requests: RequestTimes[]
  arrived: Map<string, number>
  lags: { occurredAt: number; at: number }[]
  samples: Sample[]
  benchLag: { t: number; ms: number }[]
  probe: ProbeLine[]
  pgBefore: Record<string, string | number>
  pgAfter: Record<string, string | number>
  from: number
}): string => {
  const apiReq = new Map<number, ProbeLine>()
  for (const p of r.probe) if (p.k === 'req' && p.seq !== undefined) apiReq.set(p.seq, p)
  const slow = r.requests.filter((x) => {
    const e2e = x.id !== undefined ? (r.arrived.get(x.id) ?? Number.POSITIVE_INFINITY) - x.due : Number.POSITIVE_INFINITY
    return x.done === undefined || x.done - x.due > SLOW_MS || e2e > SLOW_MS
  })
  const parts = { generator: [] as number[], toApi: [] as number[], inApi: [] as number[], back: [] as number[], publish: [] as number[] }
  for (const x of slow) {
    const a = apiReq.get(x.seq)
    parts.generator.push(x.sent - x.due)
    if (!a || x.done === undefined) continue
    parts.toApi.push(a.t - x.sent)
    parts.inApi.push(a.ms)
    parts.back.push(x.done - (a.t + a.ms))
    const at = x.id !== undefined ? r.arrived.get(x.id) : undefined
    if (at !== undefined) parts.publish.push(at - x.done)
  }
  const split = (xs: number[]) => `p50 ${f0(q(xs, 50))} max ${f0(q(xs, 100))}`
  const delta = (k: string) => Number(r.pgAfter[k] ?? Number.NaN) - Number(r.pgBefore[k] ?? Number.NaN)
  const lines = [
    `    timeline ${r.label}: ${slow.length} of ${r.requests.length} requests slower than ${SLOW_MS} ms (answer or event); their time, ms:` +
      ` load generator late ${split(parts.generator)}, sent → api read it ${split(parts.toApi)}, in the api ${split(parts.inApi)}, answered → back ${split(parts.back)}, answer → event delivered ${split(parts.publish)}`,
    `    PostgreSQL over the run: checkpoints ${delta('checkpoints_timed') + delta('checkpoints_req')} (write ${f0(delta('checkpoint_write_time'))} ms, sync ${f0(delta('checkpoint_sync_time'))} ms), WAL syncs ${delta('wal_sync')} (${f0(delta('wal_sync_time'))} ms timed), WAL ${f0(delta('wal_bytes') / 1e6)} MB`,
  ]
  if (slow.length === 0) return lines.join('\n')
  // The 100 ms windows the slow requests were due in, with a window either side.
  const win = (t: number) => Math.floor((t - r.from) / WINDOW_MS)
  const wanted = new Set<number>()
  for (const x of slow) for (const d of [-1, 0, 1]) wanted.add(win(x.due) + d)
  const rows = [...wanted].filter((w) => w >= 0).sort((a, b) => a - b)
  // What the windows with slow requests had, against the run's other windows (ms per 100 ms window).
  const slowWins = new Set(slow.map((x) => win(x.due)))
  const sampleWin = (x: Sample) => win(x.t - x.dt / 2)
  const gcWin = new Map<number, number>()
  for (const p of r.probe) if (p.k === 'gc') gcWin.set(win(p.t), (gcWin.get(win(p.t)) ?? 0) + p.ms)
  const mean = (xs: number[]) => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length)
  const compare = (name: string, of: (x: Sample) => number) => {
    const a = r.samples.filter((x) => slowWins.has(sampleWin(x))).map(of)
    const b = r.samples.filter((x) => !slowWins.has(sampleWin(x))).map(of)
    return `${name} ${f0(mean(a))} (others ${f0(mean(b))})`
  }
  // Each slow request, by what its window (or the one before) had first: the load generator
  // sent it late, other processes took a third of a core or more, the api collected garbage
  // for 10 ms or more; otherwise the four processes' own contention or the api.
  const sampleAt = new Map<number, Sample>()
  for (const x of r.samples) sampleAt.set(sampleWin(x), x)
  const sides = { 'load generator late': 0, 'other processes on the machine': 0, 'api GC': 0, 'api, PostgreSQL, RabbitMQ and the load generator sharing the cores': 0 }
  for (const x of slow) {
    const w = win(x.due)
    const around = [sampleAt.get(w), sampleAt.get(w - 1)].filter((v): v is Sample => v !== undefined)
    if (x.sent - x.due > 10) sides['load generator late'] += 1
    else if (around.some((v) => ((v.cpuMs.others + v.cpuMs.pgOther) * WINDOW_MS) / v.dt >= 33)) sides['other processes on the machine'] += 1
    else if ((gcWin.get(w) ?? 0) + (gcWin.get(w - 1) ?? 0) >= 10) sides['api GC'] += 1
    else sides['api, PostgreSQL, RabbitMQ and the load generator sharing the cores'] += 1
  }
  const othersInSlow = new Map<string, number>()
  for (const x of r.samples.filter((v) => slowWins.has(sampleWin(v))))
    for (const part of x.topOthers.split(', ').filter(Boolean)) {
      const at = part.lastIndexOf(' ')
      othersInSlow.set(part.slice(0, at), (othersInSlow.get(part.slice(0, at)) ?? 0) + Number(part.slice(at + 1)))
    }
  const topInSlow = [...othersInSlow].sort((a, b) => b[1] - a[1]).slice(0, 6)
  lines.push(
    `    slow requests by side: ${Object.entries(sides)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}`,
  )
  lines.push(`    other processes that used most CPU in the windows with slow requests, ms: ${topInSlow.map(([n, ms]) => `${n} ${ms.toFixed(0)}`).join(', ')}`)
  lines.push(
    `    windows with slow requests (${slowWins.size}) vs the rest, ms per 100 ms: ` +
      [
        compare('api waited for a CPU', (x) => x.apiWaitMs),
        compare('load generator waited for a CPU', (x) => x.benchWaitMs),
        compare('api GC', (x) => gcWin.get(sampleWin(x)) ?? 0),
        compare('CPU of other processes', (x) => x.cpuMs.others + x.cpuMs.pgOther),
        compare('machine busy (all cores)', (x) => x.busyMs),
      ].join(', '),
  )
  lines.push(
    `    window (ms from start) | due | slow | worst ms | gen late | bench loop lag | api loop lag | api GC ms | waited for a CPU ms: api bench | CPU ms in the window: ${PARTS.join(' ')} | machine busy % | runnable | iowait ms | pg active | pg waits | other processes, CPU ms`,
  )
  const shown = rows.slice(0, 60)
  for (const w of shown) {
    const lo = r.from + w * WINDOW_MS
    const hi = lo + WINDOW_MS
    const inWin = <T extends { t: number }>(xs: T[]) => xs.filter((x) => x.t >= lo && x.t < hi)
    const due = r.requests.filter((x) => x.due >= lo && x.due < hi)
    const slowHere = slow.filter((x) => x.due >= lo && x.due < hi)
    const worst = Math.max(0, ...due.map((x) => (x.done ?? Number.NaN) - x.due).filter(Number.isFinite))
    const genLate = Math.max(0, ...due.map((x) => x.sent - x.due))
    const bl = Math.max(0, ...inWin(r.benchLag).map((x) => x.ms))
    const probeHere = inWin(r.probe)
    const al = Math.max(0, ...probeHere.filter((p) => p.k === 'lag').map((p) => p.ms))
    const gcs = probeHere.filter((p) => p.k === 'gc')
    const gc = gcs.length === 0 ? '0' : `${gcs.reduce((a, p) => a + p.ms, 0).toFixed(1)} (${[...new Set(gcs.map((p) => p.kind))].join(',')})`
    // The sample taken at the end of this window covers it.
    const s = r.samples.find((x) => x.t >= hi && x.t < hi + WINDOW_MS) ?? r.samples.find((x) => x.t >= lo && x.t < hi + WINDOW_MS)
    const cpu = s ? PARTS.map((p) => f0(s.cpuMs[p])).join(' ') : '—'
    lines.push(
      `    ${String(w * WINDOW_MS).padStart(5)} | ${String(due.length).padStart(3)} | ${String(slowHere.length).padStart(3)} | ${f0(worst).padStart(4)} | ${f0(genLate).padStart(4)} | ${f0(bl).padStart(4)} | ${f0(al).padStart(4)} | ${gc} | ${s ? `${f0(s.apiWaitMs)} ${f0(s.benchWaitMs)}` : '—'} | ${cpu} | ${s ? f0((s.busyMs / s.dt / availableParallelism()) * 100) : '—'} | ${s?.runnable ?? '—'} | ${s ? f0(s.iowaitMs) : '—'} | ${s?.pgActive ?? '—'} | ${s?.pgWaits ?? ''} | ${s?.topOthers ?? ''}`,
    )
  }
  if (rows.length > shown.length) lines.push(`    … ${rows.length - shown.length} more windows in the file`)
  return lines.join('\n')
}
