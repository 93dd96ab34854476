import { parseArgs } from 'node:util'
import { startEmbedded } from './embedded.js'
import { createApiClient, isFinalStatus } from '@lazarus/api-contract'
import { renderTable, seconds } from './format.js'
import { errorText } from '@lazarus/runtime'
import { startTracing } from '@lazarus/runtime/tracing'

/**
 * The demo: the whole system in one process against a simulated cloud. It registers the
 * cloud's hosts in a failover segment, crashes one host, reports it as a monitor would,
 * and follows the recovery through the api until every instance runs elsewhere.
 */
const { values: args } = parseArgs({
  options: {
    hosts: { type: 'string', default: '4' },
    instances: { type: 'string', default: '3' },
    level: { type: 'string', default: '2' },
    'evacuation-delay-ms': { type: 'string', default: '400' },
  },
})

const int = (name: string, v: string | undefined, min: number, max: number): number => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < min || n > max) {
    process.stderr.write(`--${name} must be a whole number from ${min} to ${max} (got ${v})\n`)
    process.exit(2)
  }
  return n
}
const hosts = int('hosts', args.hosts, 2, 100)
const perHost = int('instances', args.instances, 1, 200)
const level = int('level', args.level, 1, 3) as 1 | 2 | 3
const evacuationDelayMs = int('evacuation-delay-ms', args['evacuation-delay-ms'], 0, 60_000)

const out = (line = '') => process.stdout.write(`${line}\n`)

const main = async () => {
  // Off unless the OTEL_* variables turn it on (docs/tracing.md); flushed when the demo ends.
  const tracing = startTracing('demo')
  try {
    await runDemo()
  } finally {
    await tracing.stop()
  }
}

const runDemo = async () => {
  const sys = await startEmbedded({
    sim: { hosts, instancesPerHost: perHost, evacuationDelayMs, reportIntervalMs: 1000, serviceDownTimeMs: 10_000 },
    // Lazarus picks each instance's host from Placement (spread), as the plan below shows.
    evacuator: { evacuationTargets: 'planner' },
  })
  const api = createApiClient({ url: sys.apiUrl })
  try {
    out(`Lazarus demo: ${hosts} simulated compute hosts, ${perHost} instances each, all in one process`)
    out(`  cloud-sim  ${sys.sim.url}  (Keystone, Nova, a Redfish BMC per host)`)
    out(`  api        ${sys.apiUrl}/v1  (Masakari v1 compatible; AUTH=none: no tokens, for this demo only)`)

    const { segment } = (await api.createSegment({ segment: { name: 'demo', recovery_method: 'auto', service_type: 'COMPUTE', quick_evacuate_level: level } })).data
    for (const h of sys.sim.hostNames()) {
      await api.createHost(segment.uuid, {
        host: {
          name: h,
          type: 'COMPUTE',
          // The password by reference, as operators give it; cloud-sim's BMCs speak plain HTTP.
          control_attributes: `driver=redfish address=${sys.sim.redfishSystemUrl(h)} username=${sys.sim.credentials.username} password_file=${sys.bmcPasswordFile(h)} insecure_http=true`,
        },
      })
    }
    out(`  segment    "demo" (recovery_method auto, quick_evacuate_level ${level}) with ${hosts} hosts`)

    const victim = sys.sim.hostNames()[0]!
    const victims = sys.sim.servers().filter((s) => s.host === victim)
    out()
    out(`${victim} runs ${victims.map((s) => s.name).join(', ')}`)

    // Before anything fails: what the segment can absorb, and what a failure of the victim would do.
    const { capacity } = (await api.segmentCapacity(segment.uuid)).data
    out(`segment "demo" tolerates ${capacity.host_failures_tolerated} host failure(s) (GET /v1/segments/{id}/capacity)`)
    const { plan } = (await api.planSegment(segment.uuid, { plan: { hosts: [victim] } })).data
    out(`plan if ${victim} fails (POST /v1/segments/{id}/plans; nothing changed, the recovery follows the same planner):`)
    for (const p of plan.placements) out(`  ${p.name} → ${p.target ?? `nowhere (${p.reason})`}  wave ${p.wave}, priority ${p.priority}`)
    out()

    const t0 = Date.now()
    const t = (at = Date.now()) => `t+${seconds(at - t0).padStart(6)}s`
    sys.sim.crashHost(victim)
    out(`${t()}  ${victim} crashed: nova-compute silent, BMC still reports power On`)
    const { notification: n } = (
      await api.createNotification({
        notification: {
          type: 'COMPUTE_HOST',
          hostname: victim,
          generated_time: new Date().toISOString(),
          payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
        },
      })
    ).data
    out(`${t()}  notification ${n.notification_uuid} accepted (COMPUTE_HOST STOPPED from a monitor)`)

    // Follow the recovery through the api, printing each new progress message once.
    const seen = new Set<string>()
    let final = n
    for (;;) {
      final = (await api.showNotification(n.notification_uuid)).data.notification
      for (const task of final.recovery_workflow_details ?? []) {
        for (const d of task.progress_details ?? []) {
          const key = `${task.name}|${d.timestamp}|${d.message}`
          if (seen.has(key)) continue
          seen.add(key)
          out(`${t(Date.parse(d.timestamp))}  ${task.name.padEnd(34)} ${d.message}`)
        }
      }
      if (isFinalStatus(final.status)) break
      if (Date.now() - t0 > 120_000) throw new Error('recovery did not end within 120 s')
      await new Promise((r) => setTimeout(r, 100))
    }
    const total = Date.parse(final.updated_at ?? new Date().toISOString()) - t0
    out(`${t(t0 + total)}  notification ${final.status}${final.message ? `: ${final.message}` : ''}`)

    const vmoves = (await api.listVmoves(n.notification_uuid)).data
    const now = sys.sim.servers()
    out()
    out(
      renderTable(
        ['instance', 'from', 'to', 'state', 'seconds', 'result'],
        victims.map((v) => {
          const mv = vmoves.find((m) => m.instance_uuid === v.id)
          const s = now.find((x) => x.id === v.id)
          const secs = mv?.start_time && mv.end_time ? seconds(Date.parse(mv.end_time) - Date.parse(mv.start_time)) : '-'
          return [v.name, victim, s?.host ?? '?', s?.status ?? '?', secs, mv?.status ?? 'none']
        }),
      ),
    )
    out()
    out(`Recovery took ${seconds(total)} s from the crash report to the last instance running elsewhere.`)
    const asPlanned = plan.placements.filter((p) => p.target !== null && now.find((x) => x.id === p.instance_id)?.host === p.target).length
    out(`${asPlanned} of ${victims.length} instance(s) landed on the host the plan named.`)
    const moved = victims.filter((v) => now.find((x) => x.id === v.id)?.host !== victim).length
    process.exitCode = final.status === 'finished' && moved === victims.length && asPlanned === victims.length ? 0 : 1
  } finally {
    await sys.stop()
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${errorText(err)}\n`)
  process.exit(1)
})
