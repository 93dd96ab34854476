/*
 * Agent footprint bench: the bundled agent (`pnpm run bundle:agent`, one file) run alone
 * from an empty directory with `node` and the flags of its systemd unit, heartbeating at
 * 1 Hz on the real NATS server with the probes of a healthy compute host (processes
 * nova-compute and libvirtd, both running: copies of `sleep` under those names; one
 * management target over TCP) and its ops endpoint on. Measures the bundle's size, and per
 * run the agent's RSS and its CPU (user + system, from /proc) over the measuring window
 * after a warm-up; prints the medians and the spread (min–max) over the runs. For scale it
 * also prints the RSS of an idle `node` with the same flags (Node's own floor).
 *
 * Usage: node --import tsx test/bench/agent-footprint.ts [--runs 5] [--measure 60] [--warmup 10]
 * Targets: bundle < 5 MB, RSS < 40 MB, CPU < 0.5% of one core.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { connect } from '@nats-io/transport-node'
import { pnpm, repoRoot, startNode } from '../support/processes.js'

const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222'
const TARGET_SIZE_MB = 5
const TARGET_RSS_MB = 40
const TARGET_CPU = 0.005
const TICKS_PER_S = 100
/** The node flags of infra/systemd/lazarus-agent.service's ExecStart. */
const UNIT_NODE_ARGS = (() => {
  const unit = readFileSync(join(repoRoot, 'infra/systemd/lazarus-agent.service'), 'utf8')
  const exec = /^ExecStart=\/usr\/bin\/node (.*) \S+$/m.exec(unit)
  return exec ? exec[1]!.split(' ').filter((a) => a.startsWith('--')) : []
})()

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, measure: { type: 'string', default: '60' }, warmup: { type: 'string', default: '10' } },
})
const runs = Number(values.runs)
const measureS = Number(values.measure)
const warmupS = Number(values.warmup)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** CPU seconds (user + system) the process used so far. */
const cpuSeconds = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S
}
/** VmRSS and VmHWM (peak RSS) in MiB. */
const memory = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN)
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 }
}

interface RunResult {
  cpu: number
  rssMb: number
  peakMb: number
  rate: number
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const spread = (xs: number[], f: (x: number) => string) => `${f(Math.min(...xs))}–${f(Math.max(...xs))}`

/** The watched processes of a healthy compute host: `sleep` under their names. */
const startWatched = (names: string[]) => {
  const dir = mkdtempSync(join(tmpdir(), 'lazarus-agent-bench-procs-'))
  const children: ChildProcess[] = names.map((name) => {
    copyFileSync('/bin/sleep', join(dir, name))
    execFileSync('chmod', ['+x', join(dir, name)])
    return spawn(join(dir, name), ['3600'], { stdio: 'ignore' })
  })
  return () => {
    for (const c of children) c.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
}

/** RSS of an idle node with these flags, after 3 s. */
const idleNodeRssMb = () =>
  Number(
    execFileSync(process.execPath, [
      ...UNIT_NODE_ARGS,
      '-e',
      "setTimeout(() => console.log(/VmRSS:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1] / 1024), 3000)",
    ]).toString(),
  )

const oneRun = async (n: number, bundle: string): Promise<RunResult> => {
  const dir = mkdtempSync(join(tmpdir(), 'lazarus-agent-bench-'))
  const host = `footprint-${randomBytes(3).toString('hex')}`
  const nc = await connect({ servers: NATS_URL })
  let received = 0
  const sub = nc.subscribe(`lazarus.heartbeat.${host}`, { callback: () => received++ })
  copyFileSync(bundle, join(dir, 'lazarus-agent.mjs'))
  const agent = startNode(
    'agent',
    join(dir, 'lazarus-agent.mjs'),
    {
      NATS_URL,
      HOST_NAME: host,
      HEARTBEAT_INTERVAL_MS: '1000',
      PROCESS_NAMES: 'nova-compute,libvirtd',
      MANAGEMENT_TARGETS: new URL(NATS_URL.split(',')[0]!).host,
      OPS_PORT: '0',
      OPS_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
    },
    { cwd: dir, bareEnv: true, nodeArgs: UNIT_NODE_ARGS },
  )
  try {
    const pid = agent.child.pid!
    await sleep(warmupS * 1000)
    if (agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.lines.slice(-10).join('\n')}`)
    const cpu0 = cpuSeconds(pid)
    const got0 = received
    const t0 = performance.now()
    const rss: number[] = []
    while (performance.now() - t0 < measureS * 1000) {
      await sleep(1000)
      rss.push(memory(pid).rssMb)
    }
    const wallS = (performance.now() - t0) / 1000
    const r: RunResult = { cpu: (cpuSeconds(pid) - cpu0) / wallS, rssMb: median(rss), peakMb: memory(pid).peakMb, rate: (received - got0) / wallS }
    console.log(
      `run ${n}: cpu ${(r.cpu * 100).toFixed(3)}% of a core, rss ${r.rssMb.toFixed(1)} MB (peak ${r.peakMb.toFixed(1)} MB), ` + `${r.rate.toFixed(2)} heartbeats/s received`,
    )
    return r
  } finally {
    await agent.stop()
    sub.unsubscribe()
    await nc.drain()
    rmSync(dir, { recursive: true, force: true })
  }
}

const main = async () => {
  execFileSync(...pnpm('run', '--silent', 'bundle:agent'), { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] })
  const bundle = join(repoRoot, 'services/agent/dist-bundle/lazarus-agent.mjs')
  const sizeMb = statSync(bundle).size / 2 ** 20
  console.log(
    `agent footprint bench: the bundle alone in an empty directory, node ${process.version} ${UNIT_NODE_ARGS.join(' ')}, heartbeats at 1 Hz over ${NATS_URL}, ` +
      `probes: 2 running processes and 1 TCP target, ops endpoint on; warm-up ${warmupS} s, measured ${measureS} s, ${runs} run(s)`,
  )
  const stopWatched = startWatched(['nova-compute', 'libvirtd'])
  const results: RunResult[] = []
  try {
    for (let i = 1; i <= runs; i++) results.push(await oneRun(i, bundle))
  } finally {
    stopWatched()
  }
  const floorMb = idleNodeRssMb()
  const cpus = results.map((r) => r.cpu)
  const rsss = results.map((r) => r.rssMb)
  const cpu = median(cpus)
  const rssMb = median(rsss)
  const pct = (x: number) => `${(x * 100).toFixed(3)}%`
  const mb = (x: number) => `${x.toFixed(1)} MB`
  console.log(`\n${runs > 1 ? `medians over ${runs} runs (spread min–max)` : 'result'}:`)
  console.log(`  bundle size   ${sizeMb.toFixed(2)} MB   target < ${TARGET_SIZE_MB} MB   ${sizeMb < TARGET_SIZE_MB ? 'OK' : 'MISSED'}`)
  console.log(
    `  RSS           ${mb(rssMb)} (${spread(rsss, mb)}; peak ${mb(median(results.map((r) => r.peakMb)))})   target < ${TARGET_RSS_MB} MB   ${rssMb < TARGET_RSS_MB ? 'OK' : 'MISSED'}`,
  )
  console.log(`  CPU           ${pct(cpu)} of one core (${spread(cpus, pct)})   target < ${TARGET_CPU * 100}%   ${cpu < TARGET_CPU ? 'OK' : 'MISSED'}`)
  console.log(
    `  heartbeats/s  ${median(results.map((r) => r.rate)).toFixed(2)} (${spread(
      results.map((r) => r.rate),
      (x) => x.toFixed(2),
    )})`,
  )
  console.log(`  (an idle node ${process.version} with the same flags: RSS ${mb(floorMb)})`)
  process.exitCode = sizeMb < TARGET_SIZE_MB && rssMb < TARGET_RSS_MB && cpu < TARGET_CPU ? 0 : 1
}

await main()
