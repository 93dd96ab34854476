/*
 * Api notification bench: the api as its own process on PostgreSQL and RabbitMQ; N clients
 * POST notifications (VM type, a fresh instance uuid each, over a few hundred registered
 * hosts, so duplicate detection never refuses one) as fast as they get answers.
 *
 * Two kinds of load: closed loop, N clients (1, 16, 64) each sending its next notification
 * once the last is answered, which finds the most the system accepts per second (at that
 * point its latency is N / rate, by Little's law); and open loop, notifications offered at a
 * fixed rate (the target's 2,000/s) whatever the answers, which shows the latency a monitor
 * sees at that rate. Open-loop latencies count from when each notification was due, so a
 * request queued behind slow ones is not left out of the percentiles.
 *
 * Measures, per load, over several runs (medians reported):
 *   - accepted/s: 202 answers per second;
 *   - HTTP latency p50/p99: request sent → 202 (the row and its outbox event committed);
 *   - publish lag p50/p99: commit (the event's occurredAt) → delivered to a consumer of the
 *     detector's queue, i.e. the outbox relay and the broker;
 *   - end to end p50/p99: request sent → event delivered (persisted + published);
 *   - CPU per notification: CPU time of the api, PostgreSQL, RabbitMQ and this load generator
 *     over the run, divided by the notifications accepted (from /proc: Linux only). All four
 *     share the machine's two cores, so their sum bounds the rate this machine can reach.
 *
 * The clients share one keep-alive undici Pool (one connection per client): the load
 * generator runs on the same two cores as the api, PostgreSQL and RabbitMQ, and fetch()
 * would spend as much CPU per request as the api does.
 *
 * Usage: node --import tsx test/bench/api-notifications.ts [--runs 3] [--seconds 5] [--hosts 300]
 *        [--concurrency 1,16,64] [--rate 2000]   (an empty list skips that kind of load)
 *        [--timeline DIR]   (where slow requests' time went, per 100 ms: test/bench/api-timeline.ts)
 * Every run also says which side its slow requests came from: how late the load generator sent
 * them (its own stalls), the CPU other processes of the machine took meanwhile, and how long the
 * api's and the load generator's event-loop threads waited for a CPU (/proc/PID/schedstat).
 * LAZARUS_CHILD_NODE_ARGS='--cpu-prof --cpu-prof-dir=DIR' profiles the api (test/support/processes.ts).
 * Needs `npx tsc -b services/api` first. Targets: ≥ 2,000 notifications/s, p99 < 50 ms: the
 * open-loop run at 2,000/s keeps up (accepts 2,000/s) with an end-to-end p99 under 50 ms.
 */
import { ACK, createRabbitBus } from '@lazarus/bus'
import { NotificationReceivedV1, topology } from '@lazarus/contracts'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Pool } from 'undici'
import { createTestDatabase, createTestVhost } from '../support/infra.js'
import { cpuSecondsBetween, cpuSecondsByPid } from '../support/process-cpu.js'
import { repoRoot, startNode } from '../support/processes.js'
import { type RequestTimes, rabbitmqPattern, runQueueWaitMs, SLOW_MS, startTimeline } from './api-timeline.js'

const TARGET_RATE = 2000
const TARGET_P99_MS = 50

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    hosts: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '1,16,64' },
    rate: { type: 'string', default: String(TARGET_RATE) },
    timeline: { type: 'string' },
  },
})
const RUNS = Number(values.runs)
const SECONDS = Number(values.seconds)
const HOSTS = Number(values.hosts)
const LEVELS = String(values.concurrency).split(',').filter(Boolean).map(Number)
const RATES = String(values.rate).split(',').filter(Boolean).map(Number)
const TIMELINE_DIR = values.timeline

/** Closed loop (a number of clients, each waiting for its answer) or open loop (a fixed offered rate). */
type Load = { clients: number; rate?: undefined } | { rate: number; clients?: undefined }

const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number
}
const median = (xs: number[]) => pct(xs, 50)
const fmt = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '—')

interface RunResult {
  rate: number
  httpP50: number
  httpP99: number
  lagP50: number
  lagP99: number
  e2eP50: number
  e2eP99: number
  errors: number
  lost: number
  /** Requests slower than SLOW_MS (answer or event), and how late the load generator sent them (p50, max). */
  slow: number
  slowSentLateP50: number
  slowSentLateMax: number
  /** Share of the run the api's and the load generator's event-loop threads were ready to run but waited for a CPU. */
  apiCpuWait: number
  benchCpuWait: number
  /** Cores the machine's other processes used during the run (total busy minus the four measured). */
  otherCores: number
  /** Mean notifications per transaction during the run (the api's group commit). */
  batch: number
  /** The api's event-loop utilisation over the run (0–1). */
  elu: number
  /** CPU µs per accepted notification, by process. */
  cpu: Record<CpuPart, number>
}

type CpuPart = 'api' | 'postgres' | 'rabbitmq' | 'bench'
const CPU_PARTS: CpuPart[] = ['api', 'postgres', 'rabbitmq', 'bench']

const main = async () => {
  if (!existsSync(join(repoRoot, 'services/api/dist/main.js'))) throw new Error('build first: npx tsc -b services/api')
  const tag = `${process.pid}`
  const db = await createTestDatabase(`lazarus_bench_api_${tag}`)
  const vhost = await createTestVhost(`lazarus-bench-api-${tag}`)
  const probeFile = TIMELINE_DIR ? join(TIMELINE_DIR, 'api-probe.jsonl') : ''
  if (TIMELINE_DIR) {
    mkdirSync(TIMELINE_DIR, { recursive: true })
    rmSync(probeFile, { force: true })
  }
  const api = startNode(
    'api',
    'services/api/dist/main.js',
    {
      API_PORT: '0',
      DATABASE_URL: db.url,
      AMQP_URL: vhost.url,
      // Made-up host names, no cloud: not looked up in Nova (even with OS_* in this shell).
      COMPUTE_HOST_CHECK: 'off',
      LOG_LEVEL: 'info',
      AUTH: 'none', // measures accepting, not token checks
      ...(TIMELINE_DIR ? { LAZARUS_TIMELINE_FILE: probeFile } : {}),
    },
    TIMELINE_DIR ? { nodeArgs: [`--import=${join(repoRoot, 'test/bench/api-timeline-probe.mjs')}`] } : {},
  )
  const arrived = new Map<string, number>()
  const lags: number[] = []
  /** Each event's commit and delivery times (wall ms), for the timeline. */
  const lagTimes: { occurredAt: number; at: number }[] = []
  const dbName = `lazarus_bench_api_${tag}`
  const timeline = TIMELINE_DIR ? startTimeline({ dir: TIMELINE_DIR, apiPid: api.child.pid as number, dbName, dbUrl: db.url, probeFile }) : undefined
  const listener = await createRabbitBus({ url: vhost.url })
  try {
    const line = await api.waitForLine(/api listening/, 60_000)
    const url = `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`
    await listener.subscribe({ ...topology.detectorOnNotification, prefetch: 500 }, NotificationReceivedV1, async (e) => {
      const t = Date.now()
      arrived.set(e.payload.notificationId, t)
      lags.push(t - Date.parse(e.occurredAt))
      if (timeline) lagTimes.push({ occurredAt: Date.parse(e.occurredAt), at: t })
      return ACK
    })

    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      return { status: res.status, body: (await res.json()) as any }
    }
    const seg = await post('/v1/segments', { segment: { name: `bench-${tag}`, recovery_method: 'auto', service_type: 'COMPUTE' } })
    const hosts: string[] = []
    for (let i = 0; i < HOSTS; i += 1) {
      const name = `bench-${i}`
      const r = await post(`/v1/segments/${seg.body.segment.uuid}/hosts`, { host: { name, type: 'COMPUTE', control_attributes: 'x' } })
      if (r.status !== 201) throw new Error(`host ${name}: ${r.status} ${JSON.stringify(r.body)}`)
      hosts.push(name)
    }
    let next = 0
    /** Names each request (x-bench-seq) for the timeline, across runs. */
    let seq = 0
    const body = () => {
      next += 1
      return JSON.stringify({
        notification: {
          type: 'VM',
          hostname: hosts[next % hosts.length],
          generated_time: new Date().toISOString(),
          payload: { instance_uuid: randomUUID(), vir_domain_event: 'STOPPED_FAILED', event: 'LIFECYCLE' },
        },
      })
    }

    // Open-loop runs may have more requests out than any client count: room for them to queue here, timed.
    const pool = new Pool(url, { connections: Math.max(...LEVELS, RATES.length > 0 ? 128 : 8), pipelining: 1 })
    /** Sum and count of lazarus_api_accept_batch_size from the api's /metrics. */
    const batchTotals = async () => {
      const text = await (await fetch(`${url}/metrics`)).text()
      const read = (name: string) => Number(new RegExp(`^${name}(?:{[^}]*})? (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN)
      return { sum: read('lazarus_api_accept_batch_size_sum'), count: read('lazarus_api_accept_batch_size_count'), elu: read('lazarus_event_loop_utilization') }
    }
    // Only this bench's api and database: other work on the machine may run an api and use other databases.
    const apiPid = String(api.child.pid)
    const rabbitmq = rabbitmqPattern()
    const ownPostgres = new RegExp(`^postgres: (?:\\S+: )?(?:\\S+ ${dbName} |checkpointer|background writer|walwriter|autovacuum)`)
    const cpuNow = (): Record<CpuPart, Map<string, number>> => ({
      api: new Map([...cpuSecondsByPid(/services\/api\/dist\/main\.js/)].filter(([pid]) => pid === apiPid)),
      postgres: cpuSecondsByPid(ownPostgres),
      rabbitmq: cpuSecondsByPid(rabbitmq),
      bench: ((u) => new Map([['self', (u.user + u.system) / 1e6]]))(process.cpuUsage()),
    })
    const machineBusy = () => {
      const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = (/^cpu\s+(.*)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? '').split(/\s+/).map(Number)
      return (user + nice + system + irq + softirq + steal) / 100
    }
    const runOnce = async (load: Load, label = ''): Promise<RunResult> => {
      const before = await batchTotals()
      const recording = label && timeline ? await timeline.begin(label) : undefined
      const cpuBefore = cpuNow()
      const busyBefore = machineBusy()
      const waitBefore = { api: runQueueWaitMs(apiPid), bench: runQueueWaitMs(String(process.pid)) }
      const times: RequestTimes[] = []
      lagTimes.length = 0
      let outstanding = 0
      const sent = new Map<string, number>()
      const http: number[] = []
      let errors = 0
      lags.length = 0
      const started = performance.now()
      const deadline = started + SECONDS * 1000
      /** One notification; its latencies count from `due` (performance.now() time), when it was meant to leave. */
      const send = async (due: number) => {
        const wall = Date.now() - (performance.now() - due)
        const rec: RequestTimes = { seq: (seq += 1), due: performance.timeOrigin + due, sent: performance.timeOrigin + performance.now(), inFlight: outstanding }
        times.push(rec)
        outstanding += 1
        try {
          const res = await pool.request({
            path: '/v1/notifications',
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-bench-seq': String(rec.seq) },
            body: body(),
          })
          const json = (await res.body.json()) as { notification?: { notification_uuid: string } }
          if (res.statusCode !== 202 || !json.notification) {
            errors += 1
            return
          }
          rec.done = performance.timeOrigin + performance.now()
          rec.id = json.notification.notification_uuid
          http.push(performance.now() - due)
          sent.set(json.notification.notification_uuid, wall)
        } finally {
          outstanding -= 1
        }
      }
      if (load.clients !== undefined) {
        // Closed loop: each client sends its next notification when the last one is answered.
        const client = async () => {
          while (performance.now() < deadline) await send(performance.now())
        }
        await Promise.all(Array.from({ length: load.clients }, client))
      } else {
        // Open loop: notification i is due at started + i / rate, whether or not earlier ones
        // were answered; a late answer counts from when it was due (no coordinated omission).
        const interval = 1000 / load.rate
        const inFlight = new Set<Promise<void>>()
        for (let i = 0; ; i += 1) {
          const due = started + i * interval
          if (due >= deadline) break
          const wait = due - performance.now()
          if (wait > 1) await new Promise((r) => setTimeout(r, wait))
          const p = send(due).finally(() => inFlight.delete(p))
          inFlight.add(p)
        }
        await Promise.all(inFlight)
      }
      const elapsed = (performance.now() - started) / 1000
      const cpuAfter = cpuNow()
      const busyAfter = machineBusy()
      const waitAfter = { api: runQueueWaitMs(apiPid), bench: runQueueWaitMs(String(process.pid)) }
      // Wait for every accepted notification's event (up to 30 s).
      const waitUntil = Date.now() + 30_000
      while (Date.now() < waitUntil && [...sent.keys()].some((id) => !arrived.has(id))) await new Promise((r) => setTimeout(r, 50))
      const after = await batchTotals()
      const e2e: number[] = []
      let lost = 0
      for (const [id, t] of sent) {
        const a = arrived.get(id)
        if (a === undefined) lost += 1
        else e2e.push(a - t)
      }
      const slow = times.filter((x) => x.done === undefined || x.done - x.due > SLOW_MS || (arrived.get(x.id ?? '') ?? Number.POSITIVE_INFINITY) - x.due > SLOW_MS)
      const slowLate = slow.map((x) => x.sent - x.due)
      const cpuUsed = Object.fromEntries(CPU_PARTS.map((p) => [p, cpuSecondsBetween(cpuBefore[p], cpuAfter[p])])) as Record<CpuPart, number>
      if (recording) process.stderr.write(`${await recording.end(times, arrived, lagTimes)}\n`)
      return {
        slow: slow.length,
        slowSentLateP50: pct(slowLate, 50),
        slowSentLateMax: pct(slowLate, 100),
        apiCpuWait: (waitAfter.api - waitBefore.api) / elapsed / 1000,
        benchCpuWait: (waitAfter.bench - waitBefore.bench) / elapsed / 1000,
        otherCores: Math.max(0, busyAfter - busyBefore - CPU_PARTS.reduce((a, p) => a + cpuUsed[p], 0)) / elapsed,
        rate: sent.size / elapsed,
        httpP50: pct(http, 50),
        httpP99: pct(http, 99),
        lagP50: pct(lags, 50),
        lagP99: pct(lags, 99),
        e2eP50: pct(e2e, 50),
        e2eP99: pct(e2e, 99),
        errors,
        lost,
        batch: (after.sum - before.sum) / (after.count - before.count),
        elu: after.elu,
        cpu: Object.fromEntries(CPU_PARTS.map((p) => [p, (cpuUsed[p] * 1e6) / Math.max(1, sent.size)])) as Record<CpuPart, number>,
      }
    }

    // Warm up (JIT, pools, plans).
    await runOnce({ clients: 8 })
    const rows: string[] = []
    const header = `load | accepted/s (× target) | HTTP p50 / p99 ms | publish lag p50 / p99 ms | end-to-end p50 / p99 ms (p99 × target) | per commit | api loop busy | errors | lost | CPU µs per notification: ${CPU_PARTS.join(' + ')} = total | other processes (cores) | api waited for a CPU`
    const loads: Load[] = [...LEVELS.map((clients) => ({ clients })), ...RATES.map((rate) => ({ rate }))]
    for (const load of loads) {
      const c = load.clients !== undefined ? `${load.clients} clients` : `${load.rate}/s offered`
      const results: RunResult[] = []
      for (let r = 0; r < RUNS; r += 1) {
        const res = await runOnce(load, `${c} run ${r + 1}`)
        results.push(res)
        process.stderr.write(
          `  ${c} run ${r + 1}: ${fmt(res.rate, 0)}/s http p50 ${fmt(res.httpP50)} p99 ${fmt(res.httpP99)} ms, lag p50 ${fmt(res.lagP50)} p99 ${fmt(res.lagP99)} ms, e2e p99 ${fmt(res.e2eP99)} ms, batch ${fmt(res.batch)}, api loop ${fmt(res.elu * 100, 0)}%, errors ${res.errors}, lost ${res.lost}, cpu µs/notification ${CPU_PARTS.map((p) => `${p} ${fmt(res.cpu[p], 0)}`).join(' ')}; ` +
            `slow (> ${SLOW_MS} ms) ${res.slow}, sent late by the load generator p50 ${fmt(res.slowSentLateP50, 0)} max ${fmt(res.slowSentLateMax, 0)} ms; other processes ${fmt(res.otherCores, 2)} of ${availableParallelism()} cores; waiting for a CPU: api ${fmt(res.apiCpuWait * 100, 0)}%, load generator ${fmt(res.benchCpuWait * 100, 0)}% of the time\n`,
        )
      }
      const m = (k: Exclude<keyof RunResult, 'cpu'>) => median(results.map((x) => x[k]))
      const cpu = CPU_PARTS.map((p) => median(results.map((x) => x.cpu[p])))
      rows.push(
        `${c.padStart(16)} | ${fmt(m('rate'), 0).padStart(6)} (${fmt(m('rate') / TARGET_RATE, 2)}×) | ${fmt(m('httpP50'))} / ${fmt(m('httpP99'))} | ${fmt(m('lagP50'))} / ${fmt(m('lagP99'))} | ${fmt(m('e2eP50'))} / ${fmt(m('e2eP99'))} (${fmt(m('e2eP99') / TARGET_P99_MS, 2)}×) | ${fmt(m('batch'))} | ${fmt(m('elu') * 100, 0)}% | ${results.reduce((a, x) => a + x.errors, 0)} | ${results.reduce((a, x) => a + x.lost, 0)} | ${cpu.map((c) => fmt(c, 0)).join(' + ')} = ${fmt(
          cpu.reduce((a, c) => a + c, 0),
          0,
        )} | ${fmt(m('otherCores'), 2)} | ${fmt(m('apiCpuWait') * 100, 0)}%`,
      )
    }
    await pool.close()
    process.stdout.write(
      `\napi notifications on PostgreSQL + RabbitMQ: medians of ${RUNS} runs of ${SECONDS} s; target ≥ ${TARGET_RATE}/s, p99 < ${TARGET_P99_MS} ms\n${header}\n${rows.join('\n')}\n`,
    )
  } finally {
    await timeline?.close()
    await listener.close().catch(() => {})
    await api.stop()
    await vhost.drop()
    await db.drop()
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(1)
})
