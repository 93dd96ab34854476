import { startEvacuationRig } from './evacuation-rig.js'
const workers = Number(process.argv[2] ?? 4)
const rig = await startEvacuationRig({ simEnv: { SIM_HOSTS: '16', SIM_EVACUATION_DELAY_MS: '1000', SIM_REPORT_INTERVAL_MS: '1000', SIM_SERVICE_DOWN_TIME_MS: '6000' }, evacuatorEnv: { HOST_FAILURE_RECOVERY_THREADS: '8' } })
try {
  for (let n = 0; n < 200; n += 1) await rig.sim('POST', '/sim/servers', { host: 'compute1', name: `vm-${n}` })
  for (let w = 0; w < workers; w += 1) await rig.startEvacuator()
  const t0 = Date.now()
  const evt = await rig.failHost('compute1')
  await rig.finished(evt.payload.notificationId, 600_000)
  const wall = Date.now() - t0
  const migs = await rig.nova.listMigrations({})
  const created = migs.map((m) => Date.parse(m.createdAt!) - t0).sort((a, b) => a - b)
  const done = migs.map((m) => Date.parse(m.updatedAt!) - t0).sort((a, b) => a - b)
  console.log('wave 1 starts', created[0], created[7], created[15], created[23], created[31], 'wave 1 ends', done[0], done[31])
  console.log('wall', wall, 'first evacuate', created[0], 'last evacuate', created.at(-1), 'last done', done.at(-1))
  console.log('evacuate starts by 500ms bucket', JSON.stringify(Object.entries(created.reduce((a: Record<number, number>, c) => ((a[Math.floor(c / 500) * 500] = (a[Math.floor(c / 500) * 500] ?? 0) + 1), a), {}))))
  const slots = workers * 8
  const gaps = created.slice(slots).map((c, i) => c - (done[i] as number)).sort((a, b) => a - b)
  console.log('slot hand-over (next start - a done) ms: p10', gaps[Math.floor(gaps.length * 0.1)], 'p50', gaps[Math.floor(gaps.length / 2)], 'p90', gaps[Math.floor(gaps.length * 0.9)])
  const fin = rig.seen.filter((e) => e.type === 'instance.evacuated.v1').map((e) => Date.parse(e.occurredAt) - t0).sort((a, b) => a - b)
  console.log('announced: first', fin[0], 'last', fin.at(-1))
  for (const p of rig.evacuators) { const l = p.lines.filter((x) => /warn|error/i.test(x) && !/"level":30/.test(x)); if (l.length) console.log(p.name, l.slice(0, 3)) }
  // Per process: when its first evacuate calls went out, how many it made, and its last ones.
  for (const p of rig.evacuators) {
    const ts = p.lines
      .map((l) => { try { return JSON.parse(l) as { time: number | string; msg: string } } catch { return undefined } })
      .filter((x) => x !== undefined && x.msg === 'evacuation requested')
      .map((x) => (typeof x!.time === 'number' ? x!.time : Date.parse(String(x!.time))) - t0)
    console.log(p.name, 'evacuate calls', ts.length, 'first', ts.slice(0, 8).join(' '), 'last', ts.slice(-3).join(' '))
  }
  const lines = rig.evacuators.flatMap((p) => p.lines).map((l) => { try { return JSON.parse(l) as { time: number; msg: string; instanceId?: string } } catch { return undefined } }).filter((x) => x !== undefined)
  lines.sort((a, b) => Date.parse(String(a.time)) - Date.parse(String(b.time)))
  for (const l of lines.filter((l) => Date.parse(String(l.time)) - t0 < Number(process.env['DIAG_UNTIL_MS'] ?? 900)).slice(-60)) console.log((typeof l.time === "number" ? l.time : Date.parse(String(l.time))) - t0, l.msg.slice(0, 80), l.instanceId ?? '')
} finally { await rig.stop() }
