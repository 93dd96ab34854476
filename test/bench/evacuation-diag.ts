/**
 * Where the time of one evacuation bench run goes: 200 instances, 1 s per evacuation, 8 threads
 * per process, `node --import tsx test/bench/evacuation-diag.ts [processes]` (default 4).
 * Prints the CPU each part used (in the first DIAG_EARLY_MS ms and over the recovery), when the
 * waves' evacuate calls went out, how long a freed slot took to take its next instance, each
 * process's evacuate calls, and the evacuators' log lines up to DIAG_UNTIL_MS ms after the
 * failure (the last DIAG_LINES of them, those whose message matches DIAG_GREP when set).
 */
import { startEvacuationRig } from './evacuation-rig.js'
import { cpuSecondsBetween, cpuSecondsByPid } from '../support/process-cpu.js'

const env = (name: string, fallback: string) => process.env[name] ?? fallback
const workers = Number(process.argv[2] ?? 4)
const earlyMs = Number(env('DIAG_EARLY_MS', '250'))
const parts = {
  'cloud-sim': /cloud-sim\/dist\/main/,
  evacuators: /evacuator\/dist\/main/,
  postgres: /^postgres/,
  rabbitmq: /beam\.smp/,
  bench: /^\S*node .*evacuation-diag/,
}
const cpuSince = (before: Record<string, Map<string, number>>) =>
  Object.entries(parts)
    .map(([k, re]) => `${k} ${cpuSecondsBetween(before[k] as Map<string, number>, cpuSecondsByPid(re)).toFixed(2)}`)
    .join(', ')
const timeOf = (t: number | string) => (typeof t === 'number' ? t : Date.parse(t))

const rig = await startEvacuationRig({
  simEnv: { SIM_HOSTS: '16', SIM_EVACUATION_DELAY_MS: '1000', SIM_REPORT_INTERVAL_MS: '1000', SIM_SERVICE_DOWN_TIME_MS: '6000' },
  evacuatorEnv: { HOST_FAILURE_RECOVERY_THREADS: '8' },
})
try {
  for (let n = 0; n < 200; n += 1) await rig.sim('POST', '/sim/servers', { host: 'compute1', name: `vm-${n}` })
  for (let w = 0; w < workers; w += 1) await rig.startEvacuator()
  const cpuBefore = Object.fromEntries(Object.entries(parts).map(([k, re]) => [k, cpuSecondsByPid(re)]))
  const t0 = Date.now()
  let early = ''
  setTimeout(() => (early = cpuSince(cpuBefore)), earlyMs)
  const evt = await rig.failHost('compute1')
  await rig.finished(evt.payload.notificationId, 600_000)
  const wall = Date.now() - t0
  console.log(`CPU s in the first ${earlyMs} ms:`, early)
  console.log('CPU s during the recovery:', cpuSince(cpuBefore))
  const migs = await rig.nova.listMigrations({})
  const created = migs.map((m) => Date.parse(m.createdAt!) - t0).sort((a, b) => a - b)
  const done = migs.map((m) => Date.parse(m.updatedAt!) - t0).sort((a, b) => a - b)
  console.log('wave 1 starts', created[0], created[7], created[15], created[23], created[31], 'wave 1 ends', done[0], done[31])
  console.log('wall', wall, 'first evacuate', created[0], 'last evacuate', created.at(-1), 'last done', done.at(-1))
  console.log(
    'evacuate starts by 500ms bucket',
    JSON.stringify(Object.entries(created.reduce((a: Record<number, number>, c) => ((a[Math.floor(c / 500) * 500] = (a[Math.floor(c / 500) * 500] ?? 0) + 1), a), {}))),
  )
  const slots = workers * 8
  const gaps = created
    .slice(slots)
    .map((c, i) => c - (done[i] as number))
    .sort((a, b) => a - b)
  console.log(
    'slot hand-over (next start - a done) ms: p10',
    gaps[Math.floor(gaps.length * 0.1)],
    'p50',
    gaps[Math.floor(gaps.length / 2)],
    'p90',
    gaps[Math.floor(gaps.length * 0.9)],
  )
  const fin = rig.seen
    .filter((e) => e.type === 'instance.evacuated.v1')
    .map((e) => Date.parse(e.occurredAt) - t0)
    .sort((a, b) => a - b)
  console.log('announced: first', fin[0], 'last', fin.at(-1))
  type Line = { proc: string; time: number | string; msg: string; instanceId?: string }
  const lines: Line[] = rig.evacuators.flatMap((p) =>
    p.lines.flatMap((l) => {
      try {
        return [{ ...(JSON.parse(l) as Omit<Line, 'proc'>), proc: p.name }]
      } catch {
        return []
      }
    }),
  )
  for (const p of rig.evacuators) {
    const l = p.lines.filter((x) => /warn|error/i.test(x) && !/"level":30/.test(x))
    if (l.length) console.log(p.name, l.slice(0, 3))
  }
  // Per process: when its first evacuate calls went out, how many it made, and its last ones.
  for (const p of rig.evacuators) {
    const ts = lines.filter((x) => x.proc === p.name && x.msg === 'evacuation requested').map((x) => timeOf(x.time) - t0)
    console.log(p.name, 'evacuate calls', ts.length, 'first', ts.slice(0, 8).join(' '), 'last', ts.slice(-3).join(' '))
  }
  const grep = process.env['DIAG_GREP'] === undefined ? undefined : new RegExp(process.env['DIAG_GREP'])
  const shown = lines
    .filter((l) => (grep === undefined || grep.test(l.msg)) && timeOf(l.time) - t0 < Number(env('DIAG_UNTIL_MS', '900')))
    .sort((a, b) => timeOf(a.time) - timeOf(b.time))
    .slice(-Number(env('DIAG_LINES', '60')))
  for (const l of shown) console.log(timeOf(l.time) - t0, l.proc, l.msg.slice(0, 60), l.instanceId ?? '')
} finally {
  await rig.stop()
}
