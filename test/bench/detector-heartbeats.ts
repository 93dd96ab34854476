/*
 * Detector heartbeat bench: N simulated agents at 1 Hz (published by load processes over
 * the real NATS server) against one heartbeat monitor process. Measures the monitor's CPU
 * (process.cpuUsage over the measuring window), RSS, event-loop delay, and the detection
 * latency of a sample of hosts that stop heartbeating:
 *
 *   latency = declared-failed time − (last heartbeat sent + heartbeat timeout)
 *
 * Usage: node --import tsx test/bench/detector-heartbeats.ts [--runs 3] [--hosts 5000]
 *        [--loaders auto] [--sample 50] [--measure 40] [--warmup 10] [--timeout-ms 3500]
 *        [--replicas 1] [--target-cpu 0.5] [--cpu-prof DIR] [--nats-monitor URL] [--nats-log PATH]
 * Targets: monitor CPU < 50% of one core (20,000 agents); latency p99 ≤ 250 ms past the timeout.
 *
 * Child processes get the run's spec over the IPC channel, and host names are derived from
 * a prefix and an index (no lists: 10,000 hosts and more hit E2BIG on a command line). The
 * load processes (`--loaders auto`: one per 7,000 agents) report their own CPU and how many
 * heartbeats they sent, so a run whose loaders could not keep up shows it (sent/s below the
 * agents' count); the local nats-server's CPU is read from /proc when it is visible.
 * `--timeout-ms` is the monitor's heartbeat timeout (default 3 × interval + 500, the
 * detector's own). `--replicas 2` runs a second monitor as a second detector replica does
 * (every replica subscribes to every heartbeat and tracks every host); `--cpu-prof DIR`
 * writes each monitor's V8 CPU profile there.
 *
 * False verdicts ('failed' on a host that was not stopped): each run tells whose they are.
 * The load processes record when each batch of agents was due and when it went out (their
 * publish lateness), and every gap of theirs of 2 s and more; the monitor records its
 * event-loop delay and, for one heartbeat in 8, the transit from the agent's `sentAt` to the
 * monitor's callback, and the status events of its NATS connection (a subscription with a
 * callback gets no client 'slowConsumer' status: a slow consumer the server cuts off shows as
 * a disconnect, and in the server's count). A false verdict is the loader's when its host had
 * published nothing for the timeout when the verdict came, else detector-side (counted apart:
 * those that came within an interval after a loader gap ended, the heartbeat perhaps still on
 * its way). Each run prints `false verdicts: N (of which M on hosts their loader left silent ≥
 * timeout; K detector-side)`, the loaders' max lateness, the monitor's max event-loop delay and
 * transit, the slow-consumer events (the server's from its /varz with `--nats-monitor URL`,
 * default http://127.0.0.1:8222, else the "Slow Consumer Detected" lines of `--nats-log PATH`,
 * default /var/log/nats-server.log; all of its clients), and the UTC seconds of each stall of
 * 500 ms and more and of the verdicts. `--stall-loader-ms MS` (`--stall-monitor-ms MS`) blocks
 * the first load process's (the monitor's) event loop once, in the middle of the window: a
 * check that the stalled loader's hosts come out loader-silent (that the monitor's stall shows,
 * and its stall guard holds the verdicts).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { connect, type Msg, type SubscriptionOptions } from '@nats-io/transport-node'
import { pino } from 'pino'
import { createHeartbeatMonitor } from '../../services/detector/src/heartbeat/index.js'

const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222'
const INTERVAL_MS = 1000
/** The detector's default heartbeat timeout (config.ts): 3 × interval + 500. */
const DEFAULT_TIMEOUT_MS = 3 * INTERVAL_MS + 500
const SEGMENT_SIZE = 100
const TARGET_P99_MS = 250
/** Agents per load process when `--loaders` is not given. */
const AGENTS_PER_LOADER = 7000

const self = fileURLToPath(import.meta.url)

interface RunSpec {
  runId: string
  /** Heartbeats go to `<prefix>.<host>`. */
  prefix: string
  /** Host i is `hostName(spec, i)`, 0 ≤ i < hosts. */
  hostPrefix: string
  hosts: number
  /** Indices of the hosts that stop heartbeating during the measuring window. */
  sample: number[]
  timeoutMs: number
}

const hostName = (spec: Pick<RunSpec, 'hostPrefix'>, i: number) => `${spec.hostPrefix}-${String(i).padStart(5, '0')}`

// ---------- per-second records (UTC seconds: where a stall or a silence happened) ----------

/** epoch second → value; `max` keeps the largest value of the second, `add` the sum. */
type PerSecond = Map<number, number>
const keepMax = (m: PerSecond, atMs: number, v: number) => {
  const s = Math.floor(atMs / 1000)
  if (v > (m.get(s) ?? Number.NEGATIVE_INFINITY)) m.set(s, v)
}
const addTo = (m: PerSecond, atMs: number, v: number) => {
  const s = Math.floor(atMs / 1000)
  m.set(s, (m.get(s) ?? 0) + v)
}
const hms = (s: number) => new Date(s * 1000).toISOString().slice(11, 19)
/** "22:41:05 7000, 22:41:06 12" (at most `most` seconds, in time order). */
const showSeconds = (entries: Iterable<[number, number]>, unit = '', most = 8) => {
  const all = [...entries].sort((a, b) => a[0] - b[0])
  if (all.length === 0) return 'none'
  const shown = all.slice(0, most).map(([s, v]) => `${hms(s)} ${Math.round(v)}${unit}`)
  return `${shown.join(', ')}${all.length > most ? ` (+${all.length - most} more seconds)` : ''}`
}
/** Seconds whose stall (loop delay, lateness, transit) is listed: shorter ones cannot make a timeout's silence alone. */
const STALL_LIST_MS = 500

/** `--stall-loader-ms`, `--stall-monitor-ms`: block this process's event loop, as starvation would. */
const busyFor = (ms: number) => {
  const end = performance.now() + ms
  while (performance.now() < end) {
    // busy: timers, sockets and IPC wait
  }
}

// ---------- monitor role ----------

interface MonitorDiag {
  /** The monitor's event-loop delay, max (ms) over the run (from ready), and per second (≥ STALL_LIST_MS, by the second it was read). */
  loopMaxMs: number
  loopBySecond: [number, number][]
  /** Heartbeat transit, the agent's sentAt to the monitor's callback (ms), sampled one message in TRANSIT_SAMPLE. */
  transitMaxMs: number
  transitBySecond: [number, number][]
  /** Status events of the monitor's NATS connection other than pings: [type, at]. */
  statuses: [string, number][]
}

/** One heartbeat in this many has its transit measured (a prefix decode, kept off the monitor's CPU figure). */
const TRANSIT_SAMPLE = 8

const runMonitor = async (spec: RunSpec) => {
  const segments: { id: string; hosts: string[] }[] = []
  for (let i = 0; i < spec.hosts; i += SEGMENT_SIZE) {
    const hosts: string[] = []
    for (let j = i; j < Math.min(spec.hosts, i + SEGMENT_SIZE); j++) hosts.push(hostName(spec, j))
    segments.push({ id: `seg-${i / SEGMENT_SIZE}`, hosts })
  }
  // The bench's own connection (the options the monitor would use), so that its status events
  // can be read and the heartbeats' transit sampled ahead of the monitor's callback.
  const nc = await connect({ servers: NATS_URL, name: 'lazarus-detector heartbeats', maxReconnectAttempts: -1, reconnectTimeWait: 500 })
  const diag: MonitorDiag = { loopMaxMs: 0, loopBySecond: [], transitMaxMs: 0, transitBySecond: [], statuses: [] }
  const transitBySecond: PerSecond = new Map()
  const decoder = new TextDecoder()
  let sampled = 0
  const sampleTransit = (msg: Msg) => {
    if (++sampled % TRANSIT_SAMPLE !== 0) return
    const m = /"sentAt":(\d+)/.exec(decoder.decode(msg.data.subarray(0, 200)))
    if (!m) return
    const now = Date.now()
    const transit = now - Number(m[1])
    if (transit > diag.transitMaxMs) diag.transitMaxMs = transit
    if (transit >= STALL_LIST_MS) keepMax(transitBySecond, now, transit)
  }
  const observed = new Proxy(nc, {
    get(target, prop) {
      if (prop === 'subscribe') {
        return (subject: string, opts: SubscriptionOptions = {}) => {
          const cb = opts.callback
          if (!cb) return target.subscribe(subject, opts)
          return target.subscribe(subject, {
            ...opts,
            callback: (err, msg) => {
              if (!err) sampleTransit(msg)
              return cb(err, msg)
            },
          })
        }
      }
      const v = Reflect.get(target, prop, target)
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
  // A subscription with a callback (the monitor's) gets no client-side 'slowConsumer' status
  // (nats-core raises it only for iterators given `slow`); a slow consumer the server cuts
  // off shows here as a disconnect and a reconnect, and in the server's own count.
  void (async () => {
    for await (const s of nc.status()) if (s.type !== 'ping') diag.statuses.push([s.type, Date.now()])
  })()
  const monitor = await createHeartbeatMonitor({
    nc: observed,
    subjectPrefix: spec.prefix,
    intervalMs: INTERVAL_MS,
    sweepMs: 100,
    defaults: { heartbeatTimeoutMs: spec.timeoutMs },
    segments,
    log: pino({ level: 'error' }),
    onVerdict: (v) => {
      if (v.kind !== 'suspected') process.send!({ type: 'verdict', v })
    },
  })
  let cpu0 = process.cpuUsage()
  let t0 = performance.now()
  let received0 = 0
  const loop = monitorEventLoopDelay({ resolution: 10 })
  // Read and reset every second: a stall shows at the second it ended (its timer ran late).
  const loopBySecond: PerSecond = new Map()
  const perSecond = monitorEventLoopDelay({ resolution: 10 })
  perSecond.enable()
  const readLoop = () => {
    const ms = perSecond.max / 1e6
    if (ms > diag.loopMaxMs) diag.loopMaxMs = ms
    if (ms >= STALL_LIST_MS) keepMax(loopBySecond, Date.now(), ms)
    perSecond.reset()
  }
  const loopTimer = setInterval(readLoop, 1000)
  process.on('message', (m: { type: string; ms?: number }) => {
    if (m.type === 'stall') busyFor(m.ms!)
    else if (m.type === 'measure-start') {
      cpu0 = process.cpuUsage()
      t0 = performance.now()
      received0 = monitor.stats().received
      loop.enable()
    } else if (m.type === 'measure-end') {
      const cpu = process.cpuUsage(cpu0)
      const wallMs = performance.now() - t0
      loop.disable()
      readLoop()
      const mem = process.memoryUsage()
      const stats = monitor.stats()
      process.send!({
        type: 'measured',
        cpu: (cpu.user + cpu.system) / 1000 / wallMs,
        rssMb: mem.rss / 2 ** 20,
        heapMb: mem.heapUsed / 2 ** 20,
        rate: ((stats.received - received0) * 1000) / wallMs,
        loopP99Ms: loop.percentile(99) / 1e6,
        stats,
        diag: { ...diag, loopBySecond: [...loopBySecond], transitBySecond: [...transitBySecond] },
      })
    } else if (m.type === 'stop') {
      clearInterval(loopTimer)
      void monitor
        .close()
        .then(() => nc.close())
        .then(() => process.exit(0))
    }
  })
  process.send!({ type: 'ready' })
}

// ---------- load role ----------

/** Agents of a load process are spread over SLOTS slots of the second; agent k (from its `from`) is in slot k % SLOTS. */
const SLOTS = 100
/** A slot's publish gaps this long and longer are kept (a missed heartbeat and more). */
const GAP_RECORD_MS = 2 * INTERVAL_MS

interface LoadDiag {
  from: number
  /** How late a slot's batch was published (ms past when it was due), max and per second (≥ STALL_LIST_MS). */
  latenessMaxMs: number
  latenessBySecond: [number, number][]
  /** Heartbeats sent timeout or more after the agent's previous one, and per second. */
  lateHeartbeats: number
  lateBySecond: [number, number][]
  /** Per slot: its first and last publish (epoch ms), and its gaps ≥ GAP_RECORD_MS as [prev, next, prev, next, ...]. */
  slotFirst: number[]
  slotLast: number[]
  slotGaps: number[][]
}

const runLoad = async (spec: RunSpec, from: number, to: number) => {
  const nc = await connect({ servers: NATS_URL, name: 'bench load' })
  const startedAt = Date.now()
  const probes = JSON.stringify({
    processes: [
      { name: 'nova-compute', ok: true, ms: 1 },
      { name: 'libvirtd', ok: true, ms: 1 },
    ],
    management: [{ name: '10.0.0.1:22', ok: true, ms: 1 }],
    storage: [{ name: '10.1.0.1:2049', ok: true, ms: 1 }],
    storageHeartbeat: { name: '/shared/lazarus/h.hb', ok: true, ms: 2 },
    peers: [
      { name: 'peer-a', ok: true, ms: 1 },
      { name: 'peer-b', ok: true, ms: 1 },
    ],
  })
  const agents = Array.from({ length: to - from }, (_, k) => hostName(spec, from + k)).map((host, k) => ({
    index: from + k,
    host,
    subject: `${spec.prefix}.${host}`,
    head: `{"v":1,"host":"${host}","bootId":"${randomUUID()}","startedAt":${startedAt},"seq":`,
    tail: `,"intervalMs":${INTERVAL_MS},"probes":${probes}}`,
    seq: 0,
    stopped: false,
    lastSentAt: 0,
  }))
  // Spread the agents over the second: slot k (every 10 ms) carries the agents i with i % 100 = k.
  const slotMs = INTERVAL_MS / SLOTS
  const t0 = performance.now()
  let next = 0
  let sent = 0
  let cpu0 = process.cpuUsage()
  let t0m = performance.now()
  let sent0 = 0
  // What the agents really did: a slot's agents are published together (one `now`), so the
  // slot's publish times are theirs. Gaps of GAP_RECORD_MS and more are kept per slot.
  const slotFirst = new Array<number>(SLOTS).fill(0)
  const slotLast = new Array<number>(SLOTS).fill(0)
  const slotGaps: number[][] = Array.from({ length: SLOTS }, () => [])
  const diag: LoadDiag = { from, latenessMaxMs: 0, latenessBySecond: [], lateHeartbeats: 0, lateBySecond: [], slotFirst, slotLast, slotGaps }
  const latenessBySecond: PerSecond = new Map()
  const lateBySecond: PerSecond = new Map()
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - t0) / slotMs)
    for (; next <= due; next++) {
      const slot = next % SLOTS
      const now = Date.now()
      const lateness = performance.now() - (t0 + next * slotMs)
      if (lateness > diag.latenessMaxMs) diag.latenessMaxMs = lateness
      if (lateness >= STALL_LIST_MS) keepMax(latenessBySecond, now, lateness)
      let live = 0
      for (let i = slot; i < agents.length; i += SLOTS) {
        const a = agents[i]!
        if (a.stopped) continue
        nc.publish(a.subject, `${a.head}${a.seq++},"sentAt":${now}${a.tail}`)
        a.lastSentAt = now
        sent++
        live++
      }
      const prev = slotLast[slot]!
      if (prev === 0) slotFirst[slot] = now
      else if (now - prev >= GAP_RECORD_MS) {
        slotGaps[slot]!.push(prev, now)
        if (now - prev >= spec.timeoutMs && live > 0) {
          diag.lateHeartbeats += live
          addTo(lateBySecond, now, live)
        }
      }
      slotLast[slot] = now
    }
  }, slotMs)
  process.on('message', (m: { type: string; sample?: number[]; ms?: number }) => {
    if (m.type === 'stop-sample') {
      const last: Record<string, number> = {}
      for (const i of m.sample!) {
        const a = agents[i - from]
        if (i < from || !a) continue
        a.stopped = true
        last[a.host] = a.lastSentAt
      }
      process.send!({ type: 'stopped', last })
    } else if (m.type === 'stall') {
      busyFor(m.ms!)
    } else if (m.type === 'measure-start') {
      cpu0 = process.cpuUsage()
      t0m = performance.now()
      sent0 = sent
    } else if (m.type === 'measure-end') {
      const cpu = process.cpuUsage(cpu0)
      const wallMs = performance.now() - t0m
      process.send!({
        type: 'measured',
        cpu: (cpu.user + cpu.system) / 1000 / wallMs,
        rate: ((sent - sent0) * 1000) / wallMs,
        diag: { ...diag, latenessBySecond: [...latenessBySecond], lateBySecond: [...lateBySecond] },
      })
    } else if (m.type === 'stop') {
      clearInterval(timer)
      void nc.drain().then(() => process.exit(0))
    }
  })
  process.send!({ type: 'ready', hosts: agents.length })
}

// ---------- the NATS server's CPU, when it runs on this machine ----------

const CLOCK_TICKS = 100
/** CPU seconds (user + system) of the local nats-server processes, from /proc; undefined when none is visible. */
const natsServerCpuS = (): number | undefined => {
  let total: number | undefined
  let pids: string[]
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d))
  } catch {
    return undefined
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const close = stat.lastIndexOf(')')
      if (!stat.slice(stat.indexOf('(') + 1, close).startsWith('nats-server')) continue
      const f = stat.slice(close + 2).split(' ')
      total = (total ?? 0) + (Number(f[11]) + Number(f[12])) / CLOCK_TICKS
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return total
}

// ---------- the NATS server's slow consumers, when it tells ----------

interface ServerSlow {
  source: string
  count: number
}
/**
 * The server's slow consumers so far: `slow_consumers` of its /varz when a monitoring port
 * answers, else the "Slow Consumer Detected" lines of its log when it is readable.
 */
const natsServerSlowConsumers = async (monitorUrl: string, logPath: string): Promise<ServerSlow | undefined> => {
  try {
    const res = await fetch(`${monitorUrl}/varz`, { signal: AbortSignal.timeout(1000) })
    const varz = res.ok ? ((await res.json()) as { slow_consumers?: unknown }) : {}
    if (typeof varz.slow_consumers === 'number') return { source: '/varz', count: varz.slow_consumers }
  } catch {
    // no monitoring port
  }
  try {
    return { source: logPath, count: readFileSync(logPath, 'utf8').match(/slow consumer detected/gi)?.length ?? 0 }
  } catch {
    return undefined
  }
}

// ---------- false verdicts: the loader's silence, or the detector's ----------

interface FalseVerdicts {
  total: number
  /** The host's loader had published nothing for a timeout or more when the verdict came. */
  loaderSilent: number
  /** The host had published within the timeout: the detector (or the way to it) is at fault. */
  detectorSide: number
  /** Of those, how many came within an interval after a loader gap ≥ timeout ended (its heartbeat maybe still on the way). */
  afterLoaderGap: number
  /** Of those, how many had published less than GAP_RECORD_MS before; the longest real silence of the others (ms, 0: none). */
  detectorShortSilence: number
  detectorSilenceMaxMs: number
  loaderBySecond: PerSecond
  detectorBySecond: PerSecond
}

const classifyFalseVerdicts = (verdicts: { host: string; at: number }[], loads: LoadDiag[], perLoader: number, timeoutMs: number): FalseVerdicts => {
  const r: FalseVerdicts = {
    total: verdicts.length,
    loaderSilent: 0,
    detectorSide: 0,
    afterLoaderGap: 0,
    detectorShortSilence: 0,
    detectorSilenceMaxMs: 0,
    loaderBySecond: new Map(),
    detectorBySecond: new Map(),
  }
  for (const { host, at } of verdicts) {
    const i = Number(host.slice(host.lastIndexOf('-') + 1))
    const d = loads[Math.floor(i / perLoader)]!
    const slot = (i - d.from) % SLOTS
    const first = d.slotFirst[slot]!
    const gaps = d.slotGaps[slot]!
    // The host's last publish at or before the verdict (undefined: never, before it).
    let last: number | undefined
    if (first === 0 || at < first) last = undefined
    else if (d.slotLast[slot]! <= at) last = d.slotLast[slot]!
    else {
      // Not inside a recorded gap: it published less than GAP_RECORD_MS before.
      last = at
      for (let g = 0; g < gaps.length; g += 2) if (gaps[g]! <= at && at < gaps[g + 1]!) last = gaps[g]!
    }
    if (last === undefined || at - last >= timeoutMs) {
      r.loaderSilent++
      addTo(r.loaderBySecond, at, 1)
      continue
    }
    r.detectorSide++
    addTo(r.detectorBySecond, at, 1)
    if (at - last < GAP_RECORD_MS) r.detectorShortSilence++
    else r.detectorSilenceMaxMs = Math.max(r.detectorSilenceMaxMs, at - last)
    for (let g = 0; g < gaps.length; g += 2) {
      const end = gaps[g + 1]!
      if (end - gaps[g]! >= timeoutMs && end <= at && at - end < INTERVAL_MS) {
        r.afterLoaderGap++
        break
      }
    }
  }
  return r
}

// ---------- orchestrator ----------

interface MonitorMeasure {
  cpu: number
  rssMb: number
  heapMb: number
  rate: number
  loopP99Ms: number
}

interface RunResult extends MonitorMeasure {
  /** Each replica's CPU (the first is `cpu`). */
  replicaCpu: number[]
  /** The load processes' CPU, summed (cores), and the heartbeats they sent per second. */
  loadCpu: number
  sentRate: number
  /** The local nats-server's CPU (cores), when visible. */
  natsCpu: number | undefined
  p50: number
  p99: number
  max: number
  detected: number
  sample: number
  wrong: number
  falseVerdicts: FalseVerdicts
  /** The loaders' max publish lateness (ms) and their heartbeats sent ≥ timeout after the previous one. */
  latenessMaxMs: number
  lateHeartbeats: number
  /** Over the replicas: the max event-loop delay and heartbeat transit (ms). */
  loopMaxMs: number
  transitMaxMs: number
  /** Client 'slowConsumer' statuses, and the server's slow consumers in the run (undefined: not visible). */
  slowClient: number
  slowServer: number | undefined
}

interface Options {
  hosts: number
  loaders: number
  replicas: number
  sample: number
  warmupS: number
  measureS: number
  timeoutMs: number
  cpuProfDir: string | undefined
  /** Blocks the first load process's (monitor's) event loop this long, once, in the middle of the window (checks the diagnosis). */
  stallLoaderMs: number | undefined
  stallMonitorMs: number | undefined
  natsMonitorUrl: string
  natsLog: string
}

const quantile = (xs: number[], q: number) => {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!
}
const median = (xs: number[]) => quantile(xs, 0.5)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const children = new Set<ChildProcess>()
const killChildren = () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
}
process.on('exit', killChildren)
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killChildren()
    process.exit(130)
  })
}

const start = (role: string, spec: RunSpec, extra: string[] = [], execArgv: string[] = []) => {
  // The spec goes over the IPC channel: with 10,000 hosts and more a list no longer fits on a command line (E2BIG).
  const child = fork(self, ['--role', role, ...extra], {
    execArgv: [...process.execArgv, ...execArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  child.send({ type: 'spec', spec })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}
const next = <T>(child: ChildProcess, type: string, timeoutMs = 60_000) =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} message within ${timeoutMs} ms`)), timeoutMs)
    const on = (m: { type: string }) => {
      if (m.type !== type) return
      clearTimeout(timer)
      child.off('message', on)
      resolve(m as T)
    }
    child.on('message', on)
  })
const stopChild = async (child: ChildProcess) => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.send({ type: 'stop' })
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(t)
}

const oneRun = async (n: number, opts: Options) => {
  const runId = randomUUID().slice(0, 8)
  // One stopped host per segment (spread over segments), so the storm guard stays out of it.
  const segments = Math.ceil(opts.hosts / SEGMENT_SIZE)
  const sample = Array.from({ length: Math.min(opts.sample, segments) }, (_, k) => k * SEGMENT_SIZE + ((k * 37) % SEGMENT_SIZE)).filter((i) => i < opts.hosts)
  const spec: RunSpec = { runId, prefix: `bench.${runId}.heartbeat`, hostPrefix: `b${runId}`, hosts: opts.hosts, sample, timeoutMs: opts.timeoutMs }
  const sampleHosts = sample.map((i) => hostName(spec, i))

  const prof = opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : []
  // Every replica subscribes to every heartbeat and tracks every host (the KV leases only
  // decide which one reports a verdict): a second replica is a second monitor of the same cost.
  type Seen = { kind: string; host?: string; action: string; at: number }
  const monitors = Array.from({ length: opts.replicas }, () => start('monitor', spec, [], prof))
  const verdicts: Seen[][] = monitors.map(() => [])
  for (const [k, monitor] of monitors.entries()) {
    monitor.on('message', (m: { type: string; v?: Seen }) => {
      if (m.type === 'verdict') verdicts[k]!.push(m.v!)
    })
  }
  await Promise.all(monitors.map((monitor) => next(monitor, 'ready')))
  const loaders: ChildProcess[] = []
  const per = Math.ceil(opts.hosts / opts.loaders)
  for (let i = 0; i < opts.loaders; i++) {
    loaders.push(start('load', spec, ['--from', String(i * per), '--to', String(Math.min(opts.hosts, (i + 1) * per))]))
  }
  await Promise.all(loaders.map((l) => next(l, 'ready')))
  const slow0 = await natsServerSlowConsumers(opts.natsMonitorUrl, opts.natsLog)
  let stallTimer: NodeJS.Timeout | undefined
  try {
    await sleep(opts.warmupS * 1000)
    const nats0 = natsServerCpuS()
    const natsT0 = performance.now()
    for (const monitor of monitors) monitor.send({ type: 'measure-start' })
    for (const l of loaders) l.send({ type: 'measure-start' })
    // Hidden checks of the diagnosis: one stall, in the middle of the window.
    const { stallLoaderMs, stallMonitorMs } = opts
    if (stallLoaderMs || stallMonitorMs) {
      stallTimer = setTimeout(
        () => {
          if (stallLoaderMs) loaders[0]!.send({ type: 'stall', ms: stallLoaderMs })
          if (stallMonitorMs) monitors[0]!.send({ type: 'stall', ms: stallMonitorMs })
        },
        (opts.measureS * 1000) / 2,
      )
    }
    await sleep(Math.min(10, opts.measureS / 3) * 1000)
    const last: Record<string, number> = {}
    const replies = loaders.map((l) => next<{ last: Record<string, number> }>(l, 'stopped'))
    for (const l of loaders) l.send({ type: 'stop-sample', sample })
    for (const r of await Promise.all(replies)) Object.assign(last, r.last)
    await sleep((opts.measureS - Math.min(10, opts.measureS / 3)) * 1000)
    const measuredP = monitors.map((monitor) => next<MonitorMeasure & { diag: MonitorDiag }>(monitor, 'measured'))
    const loadP = loaders.map((l) => next<{ cpu: number; rate: number; diag: LoadDiag }>(l, 'measured'))
    for (const monitor of monitors) monitor.send({ type: 'measure-end' })
    for (const l of loaders) l.send({ type: 'measure-end' })
    const replicas = await Promise.all(measuredP)
    const measured = replicas[0]!
    const load = await Promise.all(loadP)
    const nats1 = natsServerCpuS()
    const slow1 = await natsServerSlowConsumers(opts.natsMonitorUrl, opts.natsLog)
    const slowServer = slow0 && slow1 && slow1.source === slow0.source && slow1.count >= slow0.count ? slow1.count - slow0.count : undefined
    const natsCpu = nats0 !== undefined && nats1 !== undefined ? (nats1 - nats0) / ((performance.now() - natsT0) / 1000) : undefined
    // Each replica must detect each stopped host: latencies of all replicas together.
    const latencies: number[] = []
    for (const own of verdicts) {
      for (const h of sampleHosts) {
        const v = own.find((x) => x.kind === 'failed' && x.host === h)
        if (v && last[h]) latencies.push(v.at - (last[h] + opts.timeoutMs))
      }
    }
    const wrong = verdicts.flat().filter((v) => v.kind !== 'failed' || !sampleHosts.includes(v.host ?? '')).length
    // False verdicts: 'failed' on a host that was not stopped. Was it silent by its loader's own record?
    const sampleSet = new Set(sampleHosts)
    const falseFailed = verdicts.flat().flatMap((v) => (v.kind === 'failed' && v.host !== undefined && !sampleSet.has(v.host) ? [{ host: v.host, at: v.at }] : []))
    const loads = load.map((x) => x.diag)
    const falseVerdicts = classifyFalseVerdicts(falseFailed, loads, per, opts.timeoutMs)
    const diags = replicas.map((x) => x.diag)
    const statuses = diags.flatMap((d) => d.statuses)
    const bySecond = (lists: [number, number][][], combine: (a: number, b: number) => number) => {
      const m: PerSecond = new Map()
      for (const list of lists) for (const [sec, v] of list) m.set(sec, m.has(sec) ? combine(m.get(sec)!, v) : v)
      return m
    }
    const r: RunResult = {
      ...measured,
      replicaCpu: replicas.map((x) => x.cpu),
      loadCpu: load.reduce((a, x) => a + x.cpu, 0),
      sentRate: load.reduce((a, x) => a + x.rate, 0),
      natsCpu,
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      max: Math.max(...latencies),
      detected: latencies.length,
      sample: sampleHosts.length * opts.replicas,
      wrong,
      falseVerdicts,
      latenessMaxMs: Math.max(...loads.map((d) => d.latenessMaxMs)),
      lateHeartbeats: loads.reduce((a, d) => a + d.lateHeartbeats, 0),
      loopMaxMs: Math.max(...diags.map((d) => d.loopMaxMs)),
      transitMaxMs: Math.max(...diags.map((d) => d.transitMaxMs)),
      slowClient: statuses.filter(([type]) => type === 'slowConsumer').length,
      slowServer,
    }
    const fv = r.falseVerdicts
    console.log(
      `run ${n}: cpu ${r.replicaCpu.map((c) => `${(c * 100).toFixed(1)}%`).join(' + ')} of a core (${((r.cpu * 100 * 1000) / opts.hosts).toFixed(2)}% per 1,000 agents), ` +
        `rss ${r.rssMb.toFixed(0)} MB (heap ${r.heapMb.toFixed(0)} MB), ` +
        `${r.rate.toFixed(0)} heartbeats/s received (${r.sentRate.toFixed(0)}/s sent), loop delay p99 ${r.loopP99Ms.toFixed(1)} ms, ` +
        `latency p50 ${r.p50} ms p99 ${r.p99} ms max ${r.max} ms (${r.detected}/${r.sample} detected, ${r.wrong} unexpected verdicts); ` +
        `loaders ${(r.loadCpu * 100).toFixed(0)}%, nats-server ${r.natsCpu === undefined ? 'n/a' : `${(r.natsCpu * 100).toFixed(0)}%`} of a core; ` +
        `load average ${loadavg()}`,
    )
    console.log(
      `  false verdicts: ${fv.total} (of which ${fv.loaderSilent} on hosts their loader left silent ≥ timeout; ${fv.detectorSide} detector-side); ` +
        `loaders' max publish lateness ${r.latenessMaxMs.toFixed(0)} ms (${r.lateHeartbeats} heartbeats sent ≥ timeout after their previous one); ` +
        `monitor max event-loop delay ${r.loopMaxMs.toFixed(0)} ms; heartbeat transit (sent → monitor) max ${r.transitMaxMs} ms; ` +
        `slow consumer events ${r.slowClient + (r.slowServer ?? 0)} (client statuses ${r.slowClient}, server ${r.slowServer === undefined ? 'n/a' : `${r.slowServer} from ${slow1!.source}, all clients`}); ` +
        `monitor connection statuses ${statuses.length === 0 ? 'none' : statuses.map(([type, at]) => `${type} ${hms(Math.floor(at / 1000))}`).join(', ')}`,
    )
    if (fv.detectorSide > 0) {
      console.log(
        `  detector-side: ${fv.detectorShortSilence} had published less than ${GAP_RECORD_MS} ms before the verdict` +
          `${fv.detectorSilenceMaxMs > 0 ? `, the others' real silence at most ${fv.detectorSilenceMaxMs} ms` : ''}; ` +
          `${fv.afterLoaderGap} within ${INTERVAL_MS} ms after a loader gap ≥ timeout ended`,
      )
    }
    // Where in time (UTC, by the second): seconds with a stall of STALL_LIST_MS or more, and the verdicts.
    const sum = (a: number, b: number) => a + b
    const gapSeconds = bySecond(
      loads.map((d) => d.lateBySecond),
      sum,
    )
    const latenessSeconds = bySecond(
      loads.map((d) => d.latenessBySecond),
      Math.max,
    )
    const loopSeconds = bySecond(
      diags.map((d) => d.loopBySecond),
      Math.max,
    )
    const transitSeconds = bySecond(
      diags.map((d) => d.transitBySecond),
      Math.max,
    )
    console.log(`  at (UTC): loader gaps ≥ timeout ${showSeconds(gapSeconds)}`)
    console.log(`            loader lateness ≥ ${STALL_LIST_MS} ms ${showSeconds(latenessSeconds, ' ms')}`)
    console.log(`            monitor loop delay ≥ ${STALL_LIST_MS} ms ${showSeconds(loopSeconds, ' ms')}`)
    console.log(`            transit ≥ ${STALL_LIST_MS} ms ${showSeconds(transitSeconds, ' ms')}`)
    console.log(`            false verdicts, loader-silent ${showSeconds(fv.loaderBySecond)}; detector-side ${showSeconds(fv.detectorBySecond)}`)
    return r
  } finally {
    clearTimeout(stallTimer)
    await Promise.all([...loaders.map(stopChild), ...monitors.map(stopChild)])
  }
}

const loadavg = () => {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  } catch {
    return 'n/a'
  }
}

const main = async () => {
  const { values } = parseArgs({
    options: {
      role: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      runs: { type: 'string', default: '1' },
      hosts: { type: 'string', default: '5000' },
      loaders: { type: 'string', default: 'auto' },
      replicas: { type: 'string', default: '1' },
      sample: { type: 'string', default: '50' },
      warmup: { type: 'string', default: '10' },
      measure: { type: 'string', default: '40' },
      'timeout-ms': { type: 'string', default: String(DEFAULT_TIMEOUT_MS) },
      'target-cpu': { type: 'string', default: '0.5' },
      'cpu-prof': { type: 'string' },
      'stall-loader-ms': { type: 'string' },
      'stall-monitor-ms': { type: 'string' },
      'nats-monitor': { type: 'string', default: 'http://127.0.0.1:8222' },
      'nats-log': { type: 'string', default: '/var/log/nats-server.log' },
    },
  })
  const specFromParent = () =>
    new Promise<RunSpec>((resolve) => {
      const onMessage = (m: { type: string; spec?: RunSpec }) => {
        if (m.type !== 'spec') return
        process.off('message', onMessage)
        resolve(m.spec!)
      }
      process.on('message', onMessage)
    })
  if (values.role === 'monitor') return runMonitor(await specFromParent())
  if (values.role === 'load') return runLoad(await specFromParent(), Number(values.from), Number(values.to))
  const hosts = Number(values.hosts)
  const opts: Options = {
    hosts,
    loaders: values.loaders === 'auto' ? Math.max(1, Math.ceil(hosts / AGENTS_PER_LOADER)) : Number(values.loaders),
    replicas: Number(values.replicas),
    sample: Number(values.sample),
    warmupS: Number(values.warmup),
    measureS: Number(values.measure),
    timeoutMs: Number(values['timeout-ms']),
    cpuProfDir: values['cpu-prof'],
    stallLoaderMs: values['stall-loader-ms'] === undefined ? undefined : Number(values['stall-loader-ms']),
    stallMonitorMs: values['stall-monitor-ms'] === undefined ? undefined : Number(values['stall-monitor-ms']),
    natsMonitorUrl: values['nats-monitor'],
    natsLog: values['nats-log'],
  }
  const targetCpu = Number(values['target-cpu'])
  for (const [k, v] of Object.entries(opts)) {
    if (typeof v === 'number' && !(Number.isInteger(v) && v > 0)) throw new Error(`--${k}: a positive integer, not ${v}`)
  }
  const runs = Number(values.runs)
  console.log(
    `detector heartbeat bench: ${opts.hosts} agents at 1 Hz over ${NATS_URL} (${opts.loaders} load process(es), ${opts.replicas} monitor replica(s)), ` +
      `${Math.ceil(opts.hosts / SEGMENT_SIZE)} segments of ${SEGMENT_SIZE}, timeout ${opts.timeoutMs} ms, ` +
      `${opts.sample} hosts stopped per run, warm-up ${opts.warmupS} s, measured ${opts.measureS} s, ${runs} run(s); load average ${loadavg()}`,
  )
  const results: RunResult[] = []
  for (let i = 1; i <= runs; i++) results.push(await oneRun(i, opts))
  const med = (f: (r: RunResult) => number) => median(results.map(f))
  const range = (f: (r: RunResult) => number, d = 1, scale = 1) => {
    const xs = results.map((r) => f(r) * scale)
    return runs > 1 ? ` [${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)}]` : ''
  }
  const cpu = med((r) => r.cpu)
  const p99 = med((r) => r.p99)
  const nats = results.every((r) => r.natsCpu !== undefined) ? med((r) => r.natsCpu!) : undefined
  console.log(`\n${runs > 1 ? `medians [min–max] over ${runs} runs` : 'result'}:`)
  console.log(`  monitor CPU        ${(cpu * 100).toFixed(1)}%${range((r) => r.cpu, 1, 100)} of one core   target < ${targetCpu * 100}%   ${cpu < targetCpu ? 'OK' : 'MISSED'}`)
  console.log(`  per 1,000 agents   ${((cpu * 100 * 1000) / opts.hosts).toFixed(2)}% of one core`)
  if (opts.replicas > 1) {
    console.log(`  every replica      ${results.map((r) => r.replicaCpu.map((c) => `${(c * 100).toFixed(1)}%`).join(' + ')).join(', ')} of one core`)
  }
  console.log(`  monitor RSS        ${med((r) => r.rssMb).toFixed(0)} MB (heap ${med((r) => r.heapMb).toFixed(0)} MB)`)
  console.log(`  heartbeats/s       ${med((r) => r.rate).toFixed(0)} received, ${med((r) => r.sentRate).toFixed(0)} sent`)
  console.log(`  event loop p99     ${med((r) => r.loopP99Ms).toFixed(1)} ms`)
  console.log(`  latency p50        ${med((r) => r.p50)} ms past timeout`)
  console.log(`  latency p99        ${p99} ms${range((r) => r.p99, 0)} past timeout   target ≤ ${TARGET_P99_MS} ms   ${p99 <= TARGET_P99_MS ? 'OK' : 'MISSED'}`)
  console.log(
    `  load processes     ${(med((r) => r.loadCpu) * 100).toFixed(0)}% of one core (${opts.loaders}); nats-server ${nats === undefined ? 'n/a' : `${(nats * 100).toFixed(0)}% of one core`}`,
  )
  console.log(`  detected           ${results.map((r) => `${r.detected}/${r.sample}`).join(', ')}; unexpected verdicts ${results.map((r) => r.wrong).join(', ')}`)
  console.log(
    `  false verdicts     ${results.map((r) => `${r.falseVerdicts.total} (${r.falseVerdicts.loaderSilent} loader-silent, ${r.falseVerdicts.detectorSide} detector-side)`).join(', ')}; ` +
      `loaders' max lateness ${results.map((r) => r.latenessMaxMs.toFixed(0)).join(', ')} ms; monitor max loop delay ${results.map((r) => r.loopMaxMs.toFixed(0)).join(', ')} ms; ` +
      `slow consumer events ${results.map((r) => r.slowClient + (r.slowServer ?? 0)).join(', ')}`,
  )
  const ok = cpu < targetCpu && p99 <= TARGET_P99_MS && results.every((r) => r.detected === r.sample && r.wrong === 0)
  process.exitCode = ok ? 0 : 1
}

await main()
