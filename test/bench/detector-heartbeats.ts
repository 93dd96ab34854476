/*
 * Detector heartbeat bench: N simulated agents at 1 Hz (published by load processes over
 * the real NATS server) against one heartbeat monitor process. Measures the monitor's CPU
 * (process.cpuUsage over the measuring window), RSS, event-loop delay, and the detection
 * latency of a sample of hosts that stop heartbeating:
 *
 *   latency = declared-failed time − (last heartbeat sent + heartbeat timeout)
 *
 * Usage: node --import tsx test/bench/detector-heartbeats.ts [--runs 3] [--hosts 5000]
 *        [--loaders 1] [--sample 50] [--measure 40] [--warmup 10]
 * Targets: monitor CPU < 25% of one core; latency p99 ≤ 250 ms.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { connect } from '@nats-io/transport-node'
import { pino } from 'pino'
import { createHeartbeatMonitor } from '../../services/detector/src/heartbeat/index.js'

const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222'
const INTERVAL_MS = 1000
const TIMEOUT_MS = 3 * INTERVAL_MS + 500
const SEGMENT_SIZE = 100
const TARGET_CPU = 0.25
const TARGET_P99_MS = 250

const self = fileURLToPath(import.meta.url)

interface RunSpec {
  runId: string
  prefix: string
  hosts: string[]
  sample: string[]
  loaders: number
}

// ---------- monitor role ----------

const runMonitor = async (spec: RunSpec) => {
  const segments: { id: string; hosts: string[] }[] = []
  for (let i = 0; i < spec.hosts.length; i += SEGMENT_SIZE) {
    segments.push({ id: `seg-${i / SEGMENT_SIZE}`, hosts: spec.hosts.slice(i, i + SEGMENT_SIZE) })
  }
  const monitor = await createHeartbeatMonitor({
    natsUrl: NATS_URL,
    subjectPrefix: spec.prefix,
    intervalMs: INTERVAL_MS,
    sweepMs: 100,
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

const runLoad = async (spec: RunSpec, hosts: string[]) => {
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
  const agents = hosts.map((host) => ({
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
  process.on('message', (m: { type: string; hosts?: string[] }) => {
    if (m.type === 'stop-sample') {
      const last: Record<string, number> = {}
      for (const a of agents) {
        if (m.hosts!.includes(a.host)) {
          a.stopped = true
          last[a.host] = a.lastSentAt
        }
      }
      process.send!({ type: 'stopped', last })
    } else if (m.type === 'stop') {
      clearInterval(timer)
      void nc.drain().then(() => process.exit(0))
    }
  })
  process.send!({ type: 'ready', hosts: hosts.length })
  void sent
}

// ---------- orchestrator ----------

interface RunResult {
  cpu: number
  rssMb: number
  heapMb: number
  rate: number
  loopP99Ms: number
  p50: number
  p99: number
  max: number
  detected: number
  sample: number
  wrong: number
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

const start = (role: string, spec: RunSpec, extra: string[] = []) => {
  // The spec goes over the IPC channel: with 10,000 hosts and more it no longer fits on a command line (E2BIG).
  const child = fork(self, ['--role', role, ...extra], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  child.send({ type: 'spec', spec })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}
const next = <T>(child: ChildProcess, type: string, timeoutMs = 30_000) =>
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
  const t = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(t)
}

const oneRun = async (n: number, opts: { hosts: number; loaders: number; sample: number; warmupS: number; measureS: number }) => {
  const runId = randomUUID().slice(0, 8)
  const hosts = Array.from({ length: opts.hosts }, (_, i) => `b${runId}-${String(i).padStart(5, '0')}`)
  // One stopped host per segment (spread over segments), so the storm guard stays out of it.
  const segments = Math.ceil(opts.hosts / SEGMENT_SIZE)
  const sample = Array.from({ length: Math.min(opts.sample, segments) }, (_, k) => hosts[k * SEGMENT_SIZE + ((k * 37) % SEGMENT_SIZE)]!)
  const spec: RunSpec = { runId, prefix: `bench.${runId}.heartbeat`, hosts, sample, loaders: opts.loaders }

  const monitor = start('monitor', spec)
  const verdicts: { kind: string; host?: string; action: string; at: number }[] = []
  monitor.on('message', (m: { type: string; v?: (typeof verdicts)[number] }) => {
    if (m.type === 'verdict') verdicts.push(m.v!)
  })
  await next(monitor, 'ready')
  const loaders: ChildProcess[] = []
  const per = Math.ceil(hosts.length / opts.loaders)
  for (let i = 0; i < opts.loaders; i++) {
    const l = start('load', spec, ['--from', String(i * per), '--to', String(Math.min(hosts.length, (i + 1) * per))])
    loaders.push(l)
  }
  await Promise.all(loaders.map((l) => next(l, 'ready')))
  try {
    await sleep(opts.warmupS * 1000)
    monitor.send({ type: 'measure-start' })
    await sleep(Math.min(10, opts.measureS / 3) * 1000)
    const last: Record<string, number> = {}
    const replies = loaders.map((l) => next<{ last: Record<string, number> }>(l, 'stopped'))
    for (const l of loaders) l.send({ type: 'stop-sample', hosts: sample })
    for (const r of await Promise.all(replies)) Object.assign(last, r.last)
    await sleep((opts.measureS - Math.min(10, opts.measureS / 3)) * 1000)
    const measuredP = next<Omit<RunResult, 'p50' | 'p99' | 'max' | 'detected' | 'sample' | 'wrong'>>(monitor, 'measured')
    monitor.send({ type: 'measure-end' })
    const measured = await measuredP
    const latencies: number[] = []
    for (const h of sample) {
      const v = verdicts.find((x) => x.kind === 'failed' && x.host === h)
      if (v && last[h]) latencies.push(v.at - (last[h] + TIMEOUT_MS))
    }
    const wrong = verdicts.filter((v) => v.kind !== 'failed' || !sample.includes(v.host ?? '')).length
    const r: RunResult = {
      ...measured,
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      max: Math.max(...latencies),
      detected: latencies.length,
      sample: sample.length,
      wrong,
    }
    console.log(
      `run ${n}: cpu ${(r.cpu * 100).toFixed(1)}% of a core, rss ${r.rssMb.toFixed(0)} MB (heap ${r.heapMb.toFixed(0)} MB), ` +
        `${r.rate.toFixed(0)} heartbeats/s, loop delay p99 ${r.loopP99Ms.toFixed(1)} ms, ` +
        `latency p50 ${r.p50} ms p99 ${r.p99} ms max ${r.max} ms (${r.detected}/${r.sample} detected, ${r.wrong} unexpected verdicts)`,
    )
    return r
  } finally {
    await Promise.all([...loaders.map(stopChild), stopChild(monitor)])
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
      loaders: { type: 'string', default: '1' },
      sample: { type: 'string', default: '50' },
      warmup: { type: 'string', default: '10' },
      measure: { type: 'string', default: '40' },
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
  if (values.role === 'load') {
    const spec = await specFromParent()
    return runLoad(spec, spec.hosts.slice(Number(values.from), Number(values.to)))
  }
  const opts = {
    hosts: Number(values.hosts),
    loaders: Number(values.loaders),
    sample: Number(values.sample),
    warmupS: Number(values.warmup),
    measureS: Number(values.measure),
  }
  const runs = Number(values.runs)
  console.log(
    `detector heartbeat bench: ${opts.hosts} agents at 1 Hz over ${NATS_URL} (${opts.loaders} load process(es)), ` +
      `${Math.ceil(opts.hosts / SEGMENT_SIZE)} segments of ${SEGMENT_SIZE}, timeout ${TIMEOUT_MS} ms, ` +
      `${opts.sample} hosts stopped per run, warm-up ${opts.warmupS} s, measured ${opts.measureS} s, ${runs} run(s)`,
  )
  const results: RunResult[] = []
  for (let i = 1; i <= runs; i++) results.push(await oneRun(i, opts))
  const med = (f: (r: RunResult) => number) => median(results.map(f))
  const cpu = med((r) => r.cpu)
  const p99 = med((r) => r.p99)
  console.log(`\n${runs > 1 ? `medians over ${runs} runs` : 'result'}:`)
  console.log(`  monitor CPU        ${(cpu * 100).toFixed(1)}% of one core   target < ${TARGET_CPU * 100}%   ${cpu < TARGET_CPU ? 'OK' : 'MISSED'}`)
  console.log(`  monitor RSS        ${med((r) => r.rssMb).toFixed(0)} MB (heap ${med((r) => r.heapMb).toFixed(0)} MB)`)
  console.log(`  heartbeats/s       ${med((r) => r.rate).toFixed(0)}`)
  console.log(`  event loop p99     ${med((r) => r.loopP99Ms).toFixed(1)} ms`)
  console.log(`  latency p50        ${med((r) => r.p50)} ms past timeout`)
  console.log(`  latency p99        ${p99} ms past timeout   target ≤ ${TARGET_P99_MS} ms   ${p99 <= TARGET_P99_MS ? 'OK' : 'MISSED'}`)
  console.log(`  detected           ${results.map((r) => `${r.detected}/${r.sample}`).join(', ')}; unexpected verdicts ${results.map((r) => r.wrong).join(', ')}`)
  const ok = cpu < TARGET_CPU && p99 <= TARGET_P99_MS && results.every((r) => r.detected === r.sample && r.wrong === 0)
  process.exitCode = ok ? 0 : 1
}

await main()
