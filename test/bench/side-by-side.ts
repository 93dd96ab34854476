/**
 * Side by side on the same real Nova (infra/openstack-box): one compute host fails (its
 * nova-compute is SIGKILLed) with N instances on it, and is recovered by
 *   (a) Lazarus: the four services as processes, level 1 (force-down only), notified at once;
 *   (b) the box's Masakari with its default settings, notified at once;
 *   (c) the floor: a bare script doing only force-down + evacuate all + wait ACTIVE.
 * Each time runs from the kill (the notification follows within milliseconds) until every
 * instance is ACTIVE on another host with no task. Prints each run, medians, Lazarus's ratio to
 * Masakari and its overhead over the floor.
 *
 * Lazarus runs as it does in a cloud: its services are started once and keep running from one
 * failure to the next (the host is taken off maintenance in between, as for Masakari). Each
 * contender first recovers `--warmup` failures that are not counted: nova-api validates a
 * client's Keystone token once per worker and then caches it, so the first requests of a
 * freshly started client each wait for Keystone; the floor's client is warm from preparing.
 *
 *   pnpm run build && node --import tsx test/bench/side-by-side.ts --runs 3
 *   options: --runs N (3)  --warmup N (1)  --instances N (6)  --victim HOST (compute2)
 *            --only floor,lazarus,masakari  --json FILE (write the raw figures)
 *            --timeline (print each Lazarus step, from the kill)
 * Masakari's defaults (wait_period_after_service_update 180 s, and a disable that blocks 60 s
 * on the dead compute) make each of its runs about 4 minutes: a benchmark, not a CI test.
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { NovaError, type OpenStackClient } from '@lazarus/openstack'
import {
  bootServers,
  computeCtl,
  connect,
  deleteServers,
  loadBox,
  pollUntil,
  restoreCompute,
  serversNamed,
  waitActiveElsewhere,
  waitComputesUp,
  type BoxConfig,
} from '../real-nova/box.js'
import { startRealNovaCluster } from '../real-nova/cluster.js'

type Contender = 'floor' | 'lazarus' | 'masakari'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    timeline: { type: 'boolean', default: false },
    instances: { type: 'string', default: '6' },
    victim: { type: 'string', default: 'compute2' },
    only: { type: 'string', default: 'floor,lazarus,masakari' },
    json: { type: 'string' },
  },
})
const runs = Number(values.runs)
const warmup = Number(values.warmup)
const instances = Number(values.instances)
const victim = values.victim!
const contenders = values.only!.split(',').filter(Boolean) as Contender[]

const loaded = loadBox()
if (!loaded.box) {
  console.error(`side-by-side needs the real OpenStack: ${loaded.reason}`)
  process.exit(2)
}
const box: BoxConfig = loaded.box
const PREFIX = 'lzr-bench-'
const log = (msg: string) => console.log(`[${new Date().toISOString().slice(11, 23)}] ${msg}`)
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const os: OpenStackClient = await connect(box)

// ---- Masakari, driven through its own API with the admin token ----------------------------

const masakari = async (method: string, path: string, body?: unknown) => {
  if (!box.masakariUrl) throw new Error('the box has no Masakari (MASAKARI_URL missing; run up.sh with WITH_MASAKARI=1)')
  const res = await fetch(`${box.masakariUrl}${path}`, {
    method,
    headers: {
      'X-Auth-Token': await os.token(),
      'OpenStack-API-Version': 'instance-ha 1.0',
      'Content-Type': 'application/json',
    },
    body: body === undefined ? null : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}

/** The box's segment `osbox-seg` with every compute, none on maintenance (as masakari-test.sh keeps it). */
const masakariSegment = async (): Promise<string> => {
  const segs = await masakari('GET', '/segments')
  let seg = (segs.body.segments as { name: string; uuid: string }[]).find((s) => s.name === 'osbox-seg')?.uuid
  if (!seg) {
    const r = await masakari('POST', '/segments', { segment: { name: 'osbox-seg', recovery_method: 'auto', service_type: 'COMPUTE' } })
    seg = r.body.segment.uuid as string
  }
  const hosts = (await masakari('GET', `/segments/${seg}/hosts`)).body.hosts as { name: string; uuid: string; on_maintenance: boolean }[]
  for (const h of box.computeHosts) {
    const found = hosts.find((x) => x.name === h)
    if (!found) await masakari('POST', `/segments/${seg}/hosts`, { host: { name: h, type: 'COMPUTE', control_attributes: 'SSH' } })
    else if (found.on_maintenance) await masakari('PUT', `/segments/${seg}/hosts/${found.uuid}`, { host: { on_maintenance: false } })
  }
  return seg
}

// ---- one failure, recovered by one contender ------------------------------------------------

/** Every compute up, enabled, un-forced; no leftovers; N fresh servers on the victim. */
const prepare = async (run: number, who: Contender): Promise<string[]> => {
  const old = await serversNamed(os, PREFIX)
  if (old.length > 0) await deleteServers(os, old)
  await waitComputesUp(box)
  for (const h of box.computeHosts) {
    const [s] = await os.nova.listComputeServices({ host: h })
    if (s?.forcedDown) await os.nova.setForcedDown(h, false)
    if (s?.status === 'disabled') await os.nova.enableComputeService(h)
  }
  const names = Array.from({ length: instances }, (_, i) => `${PREFIX}${who}-${run}-${i + 1}`)
  // Generous deadline: after a Masakari run the victim can stay unschedulable for up to a minute.
  return bootServers(os, box, { host: victim, names, timeoutMs: 240_000 })
}

const afterwards = async (ids: string[]) => {
  await restoreCompute(os, box, victim, 180_000)
  await deleteServers(os, ids)
}

const runFloor = async (ids: string[]): Promise<{ ms: number }> => {
  await computeCtl(box, ['kill', victim])
  const t0 = Date.now()
  await os.nova.setForcedDown(victim, true)
  await Promise.all(ids.map((id) => os.nova.evacuate(id)))
  const { lastAt } = await waitActiveElsewhere(os, ids, victim, 120_000)
  return { ms: lastAt - t0 }
}

/** The Lazarus services, started at the first Lazarus run and kept running until the end. */
let lazarusCluster: { cluster: Awaited<ReturnType<typeof startRealNovaCluster>>; segmentId: string } | undefined

const runLazarus = async (ids: string[]): Promise<{ ms: number; finishedMs: number }> => {
  if (!lazarusCluster) {
    // Failures of the same host follow each other within a minute here: a shorter window
    // than Masakari's 180 s for refusing a notification as a duplicate.
    const cluster = await startRealNovaCluster(box, { DUPLICATE_NOTIFICATION_DETECTION_INTERVAL: '5' })
    lazarusCluster = { cluster, segmentId: await cluster.registerSegment({ name: 'bench', hosts: box.computeHosts, level: 1 }) }
  }
  const { cluster, segmentId } = lazarusCluster
  // The host given back after the previous run: its unfence ends before it fails again.
  await pollUntil(
    `${victim} unfenced by Lazarus`,
    async () => {
      const hosts = (await cluster.api('GET', `/v1/segments/${segmentId}/hosts`)).body.hosts as { name: string; fence_state?: string }[]
      return hosts.find((x) => x.name === victim)?.fence_state === 'unfencing' ? undefined : true
    },
    180_000,
    250,
  )
  try {
    await computeCtl(box, ['kill', victim])
    const t0 = Date.now()
    const nid = await cluster.notifyHostDown(victim)
    const { lastAt } = await waitActiveElsewhere(os, ids, victim, 300_000)
    const n = await pollUntil(
      'Lazarus notification final',
      async () => {
        const r = await cluster.api('GET', `/v1/notifications/${nid}`)
        const st = r.body.notification.status as string
        return ['finished', 'failed', 'error', 'ignored'].includes(st) ? { st, at: Date.now() } : undefined
      },
      120_000,
      100,
    )
    if (n.st !== 'finished') throw new Error(`Lazarus notification ended ${n.st}`)
    if (values.timeline) await printTimeline(cluster, nid, t0)
    return { ms: lastAt - t0, finishedMs: n.at - t0 }
  } finally {
    // Lazarus, like Masakari, leaves the recovered host on maintenance: clear it for the next run.
    const hosts = (await cluster.api('GET', `/v1/segments/${segmentId}/hosts`)).body.hosts as { name: string; uuid: string }[]
    const h = hosts.find((x) => x.name === victim)
    if (h) await cluster.api('PUT', `/v1/segments/${segmentId}/hosts/${h.uuid}`, { host: { on_maintenance: false } })
  }
}

/** Each step of the recovery as the api recorded it, in seconds from the kill (`--timeline`). */
const printTimeline = async (cluster: Awaited<ReturnType<typeof startRealNovaCluster>>, nid: string, t0: number) => {
  const at = (iso: string) => `+${((Date.parse(iso) - t0) / 1000).toFixed(2)} s`
  const full = await cluster.api('GET', `/v1/notifications/${nid}`)
  for (const t of full.body.notification.recovery_workflow_details ?? []) {
    for (const d of t.progress_details ?? []) log(`  ${at(d.timestamp)} ${t.name}: ${d.message}`)
  }
  const vm = await cluster.api('GET', `/v1/notifications/${nid}/vmoves`)
  for (const v of vm.body.vmoves ?? []) log(`  vmove ${v.instance_name}: ${at(v.start_time)} → ${at(v.end_time)}`)
}

const runMasakari = async (ids: string[]): Promise<{ ms: number; finishedMs: number }> => {
  const seg = await masakariSegment()
  await computeCtl(box, ['kill', victim])
  const t0 = Date.now()
  const gen = new Date()
    .toISOString()
    .replace('Z', '')
    .replace(/\.(\d{3})$/, '.$1000')
  const r = await masakari('POST', '/notifications', {
    notification: { type: 'COMPUTE_HOST', hostname: victim, generated_time: gen, payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' } },
  })
  if (r.status !== 202) throw new Error(`Masakari notification → ${r.status} ${JSON.stringify(r.body)}`)
  const nid = r.body.notification.notification_uuid as string
  try {
    const { lastAt } = await waitActiveElsewhere(os, ids, victim, 600_000, 500)
    const n = await pollUntil(
      'Masakari notification final',
      async () => {
        const x = await masakari('GET', `/notifications/${nid}`)
        const st = x.body.notification.status as string
        return ['finished', 'failed', 'error', 'ignored'].includes(st) ? { st, at: Date.now() } : undefined
      },
      300_000,
      500,
    )
    if (n.st !== 'finished') throw new Error(`Masakari notification ended ${n.st}`)
    return { ms: lastAt - t0, finishedMs: n.at - t0 }
  } finally {
    // Masakari leaves the host on maintenance; clear it for the next run.
    const hosts = (await masakari('GET', `/segments/${seg}/hosts`)).body.hosts as { name: string; uuid: string }[]
    const h = hosts.find((x) => x.name === victim)
    if (h) await masakari('PUT', `/segments/${seg}/hosts/${h.uuid}`, { host: { on_maintenance: false } })
  }
}

// ---- main -------------------------------------------------------------------------------

const results: Record<Contender, { ms: number; finishedMs?: number }[]> = { floor: [], lazarus: [], masakari: [] }
const started = Date.now()
log(`side-by-side on ${box.source}: ${instances} instances on ${victim}, ${runs} run(s) of ${contenders.join(', ')}`)
try {
  for (let run = 1 - warmup; run <= runs; run++) {
    const name = run < 1 ? `warm-up ${run + warmup}` : `run ${run}`
    for (const who of contenders) {
      const ids = await prepare(run + warmup, who)
      log(`${name} ${who}: ${ids.length} servers ACTIVE on ${victim}; kill nova-compute`)
      try {
        const r = who === 'floor' ? await runFloor(ids) : who === 'lazarus' ? await runLazarus(ids) : await runMasakari(ids)
        if (run >= 1) results[who].push(r)
        log(`${name} ${who}: all ACTIVE elsewhere ${sec(r.ms)} after the kill${'finishedMs' in r ? `, notification finished at ${sec(r.finishedMs)}` : ''}`)
      } finally {
        await afterwards(ids).catch((err) => log(`cleanup after ${who} failed: ${String(err)}`))
      }
    }
  }
} catch (err) {
  if (err instanceof NovaError) log(`Nova refused: ${err.message}`)
  throw err
} finally {
  await lazarusCluster?.cluster.stop()
  const left = await serversNamed(os, PREFIX).catch(() => [])
  if (left.length > 0) await deleteServers(os, left)
}

const row = (who: Contender) => {
  const xs = results[who].map((r) => r.ms)
  return xs.length ? `${who.padEnd(9)} ${xs.map(sec).join('  ').padEnd(34)} median ${sec(median(xs))}` : `${who.padEnd(9)} (not run)`
}
console.log(`\n${instances} instances, host ${victim} killed; time from the kill to all ACTIVE on other hosts`)
for (const who of ['floor', 'lazarus', 'masakari'] as const) console.log(row(who))
const m = (who: Contender) => (results[who].length ? median(results[who].map((r) => r.ms)) : undefined)
const [floor, lazarus, msk] = [m('floor'), m('lazarus'), m('masakari')]
if (lazarus !== undefined && msk !== undefined) {
  const ratio = msk / lazarus
  console.log(`Lazarus vs Masakari (defaults): ${ratio.toFixed(1)}× faster (target ≥ 40×: ${ratio >= 40 ? 'met' : 'MISSED'})`)
}
if (lazarus !== undefined && floor !== undefined) {
  const over = lazarus - floor
  const ok = over <= Math.max(0.1 * floor, 500)
  console.log(`Lazarus over the floor: +${sec(over)} (+${((over / floor) * 100).toFixed(0)}%) (target ≤ 10% or 0.5 s: ${ok ? 'met' : 'MISSED'})`)
}
console.log(`total wall time ${sec(Date.now() - started)}`)
if (values.json) writeFileSync(values.json, JSON.stringify({ instances, victim, results }, null, 2))
