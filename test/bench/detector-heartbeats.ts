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
 *        [--replicas 1] [--target-cpu 0.5] [--cpu-prof DIR]
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
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { connect } from '@nats-io/transport-node'
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

// ---------- monitor role ----------

const runMonitor = async (spec: RunSpec) => {
  const segments: { id: string; hosts: string[] }[] = []
  for (let i = 0; i < spec.hosts; i += SEGMENT_SIZE) {
    const hosts: string[] = []
    for (let j = i; j < Math.min(spec.hosts, i + SEGMENT_SIZE); j++) hosts.push(hostName(spec, j))
    segments.push({ id: `seg-${i / SEGMENT_SIZE}`, hosts })
  }
  const monitor = await createHeartbeatMonitor({
    natsUrl: NATS_URL,
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
  process.on('message', (m: { type: string }) => {
    if (m.type === 'measure-start') {
      cpu0 = process.cpuUsage()
      t0 = performance.now()
      received0 = monitor.stats().received
      loop.enable()
    } else if (m.type === 'measure-end') {
      const cpu = process.cpuUsage(cpu0)
      const wallMs = performance.now() - t0
      loop.disable()
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
      })
    } else if (m.type === 'stop') {
      void monitor.close().then(() => process.exit(0))
    }
  })
  process.send!({ type: 'ready' })
}

// ---------- load role ----------

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
  const SLOTS = 100
  const slotMs = INTERVAL_MS / SLOTS
  const t0 = performance.now()
  let next = 0
  let sent = 0
  let cpu0 = process.cpuUsage()
  let t0m = performance.now()
  let sent0 = 0
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - t0) / slotMs)
    for (; next <= due; next++) {
      const slot = next % SLOTS
      const now = Date.now()
      for (let i = slot; i < agents.length; i += SLOTS) {
        const a = agents[i]!
        if (a.stopped) continue
        nc.publish(a.subject, `${a.head}${a.seq++},"sentAt":${now}${a.tail}`)
        a.lastSentAt = now
        sent++
      }
    }
  }, slotMs)
  process.on('message', (m: { type: string; sample?: number[] }) => {
    if (m.type === 'stop-sample') {
      const last: Record<string, number> = {}
      for (const i of m.sample!) {
        const a = agents[i - from]
        if (i < from || !a) continue
        a.stopped = true
        last[a.host] = a.lastSentAt
      }
      process.send!({ type: 'stopped', last })
    } else if (m.type === 'measure-start') {
      cpu0 = process.cpuUsage()
      t0m = performance.now()
      sent0 = sent
    } else if (m.type === 'measure-end') {
      const cpu = process.cpuUsage(cpu0)
      const wallMs = performance.now() - t0m
      process.send!({ type: 'measured', cpu: (cpu.user + cpu.system) / 1000 / wallMs, rate: ((sent - sent0) * 1000) / wallMs })
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
  try {
    await sleep(opts.warmupS * 1000)
    const nats0 = natsServerCpuS()
    const natsT0 = performance.now()
    for (const monitor of monitors) monitor.send({ type: 'measure-start' })
    for (const l of loaders) l.send({ type: 'measure-start' })
    await sleep(Math.min(10, opts.measureS / 3) * 1000)
    const last: Record<string, number> = {}
    const replies = loaders.map((l) => next<{ last: Record<string, number> }>(l, 'stopped'))
    for (const l of loaders) l.send({ type: 'stop-sample', sample })
    for (const r of await Promise.all(replies)) Object.assign(last, r.last)
    await sleep((opts.measureS - Math.min(10, opts.measureS / 3)) * 1000)
    const measuredP = monitors.map((monitor) => next<MonitorMeasure>(monitor, 'measured'))
    const loadP = loaders.map((l) => next<{ cpu: number; rate: number }>(l, 'measured'))
    for (const monitor of monitors) monitor.send({ type: 'measure-end' })
    for (const l of loaders) l.send({ type: 'measure-end' })
    const replicas = await Promise.all(measuredP)
    const measured = replicas[0]!
    const load = await Promise.all(loadP)
    const nats1 = natsServerCpuS()
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
    }
    console.log(
      `run ${n}: cpu ${r.replicaCpu.map((c) => `${(c * 100).toFixed(1)}%`).join(' + ')} of a core (${((r.cpu * 100 * 1000) / opts.hosts).toFixed(2)}% per 1,000 agents), ` +
        `rss ${r.rssMb.toFixed(0)} MB (heap ${r.heapMb.toFixed(0)} MB), ` +
        `${r.rate.toFixed(0)} heartbeats/s received (${r.sentRate.toFixed(0)}/s sent), loop delay p99 ${r.loopP99Ms.toFixed(1)} ms, ` +
        `latency p50 ${r.p50} ms p99 ${r.p99} ms max ${r.max} ms (${r.detected}/${r.sample} detected, ${r.wrong} unexpected verdicts); ` +
        `loaders ${(r.loadCpu * 100).toFixed(0)}%, nats-server ${r.natsCpu === undefined ? 'n/a' : `${(r.natsCpu * 100).toFixed(0)}%`} of a core; ` +
        `load average ${loadavg()}`,
    )
    return r
  } finally {
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
  const ok = cpu < targetCpu && p99 <= TARGET_P99_MS && results.every((r) => r.detected === r.sample && r.wrong === 0)
  process.exitCode = ok ? 0 : 1
}

await main()
