/**
 * What a crashed evacuator costs a recovery in flight: one host of `--instances` instances
 * (default 6) fails, cloud-sim takes `--delay` ms per evacuation (default 1000), and the
 * evacuator doing the work gets `kill -9` `--kill-after` ms (default 600) after host.fenced.
 * Three cases, interleaved run by run so that each sees the same noise:
 *   - `no crash`: one evacuator, nothing killed (the baseline);
 *   - `survivor`: two evacuators, the one that took the work killed; the other finishes;
 *   - `restart`: the only evacuator killed and started again `--restart-after` ms later
 *     (default 3000).
 * Reports each case's median wall time (host.fenced published → recovery.finished received),
 * the spread, and what the crash added over the baseline's median (for `restart`, beyond the
 * time no evacuator was ready: from the kill until the new process said it was ready). Target: a crash adds ≤ 3 s. Every run also checks exactly one evacuation
 * per instance.
 *
 *   npx tsc -b services/evacuator packages/cloud-sim && node --import tsx test/bench/evacuator-crash.ts --runs 5
 */
import { parseArgs } from 'node:util'
import { startEvacuationRig } from './evacuation-rig.js'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    instances: { type: 'string', default: '6' },
    delay: { type: 'string', default: '1000' },
    'kill-after': { type: 'string', default: '600' },
    'restart-after': { type: 'string', default: '3000' },
  },
})
const runs = Number(values.runs)
const instances = Number(values.instances)
const delay = Number(values.delay)
const killAfter = Number(values['kill-after'])
const restartAfter = Number(values['restart-after'])
type Case = 'no crash' | 'survivor' | 'restart'
const CASES: Case[] = ['no crash', 'survivor', 'restart']

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))] as number
}

const runOnce = async (c: Case): Promise<{ wall: number; down: number }> => {
  const rig = await startEvacuationRig({
    simEnv: { SIM_EVACUATION_DELAY_MS: String(delay), SIM_REPORT_INTERVAL_MS: '500', SIM_SERVICE_DOWN_TIME_MS: '3000' },
    evacuatorEnv: { HOST_FAILURE_RECOVERY_THREADS: '16' },
  })
  try {
    for (let n = 0; n < instances; n += 1) await rig.sim('POST', '/sim/servers', { host: 'compute1', name: `vm-${n}` })
    const first = await rig.startEvacuator()
    if (c === 'survivor') {
      // The survivor joins once the first has the work: it takes over, it does not share it.
      await rig.startEvacuator({ HOST_FAILURE_RECOVERY_THREADS: '16' })
    }
    const evt = await rig.failHost('compute1')
    let down = 0
    if (c !== 'no crash') {
      await sleep(killAfter)
      first.child.kill('SIGKILL')
      const killedAt = performance.now()
      if (c === 'restart') {
        await sleep(restartAfter)
        await rig.startEvacuator()
        down = performance.now() - killedAt
      }
    }
    const end = await rig.finished(evt.payload.notificationId, 300_000)
    const wall = (rig.arrivedAt.get(end) as number) - rig.fencedAt
    if (end.payload.status !== 'finished' || end.payload.moved.length !== instances) throw new Error(`recovery ended ${end.payload.status}: ${end.payload.message.slice(0, 300)}`)
    const { evacuations } = await rig.sim<{ evacuations: { serverId: string }[] }>('GET', '/sim/records')
    const per = new Map<string, number>()
    for (const e of evacuations) per.set(e.serverId, (per.get(e.serverId) ?? 0) + 1)
    if (per.size !== instances || [...per.values()].some((n) => n !== 1)) throw new Error(`not one evacuation per instance: ${JSON.stringify([...per.values()])}`)
    return { wall, down }
  } finally {
    await rig.stop()
  }
}

const results = new Map<Case, { wall: number; down: number }[]>(CASES.map((c) => [c, []]))
for (let r = 0; r < runs; r += 1) {
  for (const c of CASES) {
    const one = await runOnce(c)
    results.get(c)?.push(one)
    process.stderr.write(`run ${r + 1} ${c}: ${(one.wall / 1000).toFixed(2)} s${one.down ? ` (down ${(one.down / 1000).toFixed(2)} s)` : ''}\n`)
  }
}
const walls = new Map<Case, number[]>(CASES.map((c) => [c, (results.get(c) ?? []).map((x) => x.wall)]))
const s = (ms: number) => (ms / 1000).toFixed(2)
const base = quantile(walls.get('no crash') ?? [], 0.5)
console.log(`\n${instances} instances, evacuation delay ${delay} ms, kill -9 ${killAfter} ms after host.fenced, restart after ${restartAfter} ms; ${runs} runs, interleaved\n`)
console.log('case        median (s)  min–max (s)    added (s)')
let met = true
for (const c of CASES) {
  const xs = walls.get(c) ?? []
  const med = quantile(xs, 0.5)
  const added = quantile(
    (results.get(c) ?? []).map((x) => x.wall - base - x.down),
    0.5,
  )
  if (added > 3000) met = false
  console.log(`${c.padEnd(10)}  ${s(med).padStart(10)}  ${`${s(Math.min(...xs))}–${s(Math.max(...xs))}`.padStart(11)}  ${c === 'no crash' ? '        —' : s(added).padStart(9)}`)
}
console.log(`\ntarget (a crash adds ≤ 3 s; for restart, beyond the time no evacuator was ready): ${met ? 'met' : 'NOT met'}`)
