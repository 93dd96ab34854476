import type { Alert, Host, Notification, Segment, SegmentCapacity, SegmentPlan, Vmove } from '@lazarus/api-contract'
import { dash, duration, payloadText, when, yesNo } from './format.js'
import { renderRecord, renderTable } from './table.js'

/** Tables and records for people; `--json` bypasses all of this. */

export const segmentTable = (segments: readonly Segment[]): string =>
  renderTable(
    ['uuid', 'name', 'recovery_method', 'service_type', 'enabled', 'paused', 'level', 'description'],
    segments.map((s) => [s.uuid, s.name, s.recovery_method, s.service_type, yesNo(s.enabled), yesNo(s.paused), dash(s.quick_evacuate_level), dash(s.description)]),
  )

export const segmentRecord = (s: Segment): string =>
  renderRecord([
    ['uuid', s.uuid],
    ['name', s.name],
    ['description', dash(s.description)],
    ['recovery_method', s.recovery_method],
    ['service_type', s.service_type],
    ['enabled', s.enabled === false ? 'no (disabled: its notifications are ignored)' : yesNo(s.enabled)],
    ['paused', s.paused ? 'yes (failures are held, not recovered, until resumed)' : yesNo(s.paused)],
    ['paused_reason', dash(s.paused_reason)],
    ['paused_at', when(s.paused_at)],
    ['quick_evacuate_level', dash(s.quick_evacuate_level)],
    ['storm_max_failures', stormText(s.storm_max_failures, 5)],
    ['storm_max_failed_fraction', stormText(s.storm_max_failed_fraction, 0.5)],
    ['storm_window_s', stormText(s.storm_window_s, 120)],
    ['capacity_policy', s.capacity_policy === undefined ? '-' : (s.capacity_policy ?? 'default (off)')],
    ['capacity_target', stormText(s.capacity_target, 1)],
    ['created_at', when(s.created_at)],
    ['updated_at', when(s.updated_at)],
  ])

/** A storm guard threshold: the segment's own, or the api's default (null), or `-` from an api without the guard. */
const stormText = (v: number | null | undefined, fallback: number): string => (v === undefined ? '-' : v === null ? `default (${fallback})` : String(v))

/** control_attributes hold BMC passwords: tables show only which driver and address. */
export const maskControlAttributes = (attrs: string | null | undefined): string => {
  if (!attrs) return '-'
  return attrs.replace(/\b(password|passwd|pass|secret|token)=("[^"]*"|\S+)/gi, '$1=***')
}

export const hostTable = (hosts: readonly Host[]): string =>
  renderTable(
    ['uuid', 'name', 'type', 'reserved', 'on_maintenance', 'control_attributes'],
    hosts.map((h) => [h.uuid, h.name, dash(h.type), yesNo(h.reserved), yesNo(h.on_maintenance), maskControlAttributes(h.control_attributes)]),
  )

export const hostRecord = (h: Host, segment?: Pick<Segment, 'name' | 'uuid'>): string =>
  renderRecord([
    ['uuid', h.uuid],
    ['name', h.name],
    ['segment', segment ? `${segment.name} (${segment.uuid})` : dash(h.failover_segment_id)],
    ['type', dash(h.type)],
    ['reserved', yesNo(h.reserved)],
    ['on_maintenance', yesNo(h.on_maintenance)],
    ['control_attributes', maskControlAttributes(h.control_attributes)],
    ['created_at', when(h.created_at)],
    ['updated_at', when(h.updated_at)],
  ])

export const notificationTable = (ns: readonly Notification[]): string =>
  renderTable(
    ['uuid', 'type', 'status', 'host', 'generated_time', 'payload'],
    ns.map((n) => [n.notification_uuid, n.type, n.held ? `${n.status} (held)` : n.status, hostLabel(n), when(n.generated_time), payloadText(n.payload)]),
  )

/** The api reports the source host by uuid; Lazarus adds `hostname` when it has it. */
const hostLabel = (n: Notification): string => {
  const name = (n as { hostname?: unknown }).hostname
  return typeof name === 'string' && name ? name : dash(n.source_host_uuid)
}

export const notificationRecord = (n: Notification, vmoves?: readonly Vmove[]): string => {
  const parts = [
    renderRecord([
      ['uuid', n.notification_uuid],
      ['type', n.type],
      ['status', n.held ? `${n.status} (held: its segment is paused; \`lazarus notification release ${n.notification_uuid}\` or \`lazarus segment resume\`)` : n.status],
      ['message', dash(n.message)],
      ['source_host_uuid', dash(n.source_host_uuid)],
      ['failover_segment_uuid', dash(n.failover_segment_uuid)],
      ['generated_time', when(n.generated_time)],
      ['payload', payloadText(n.payload)],
      ['created_at', when(n.created_at)],
      ['updated_at', when(n.updated_at)],
    ]),
  ]
  const steps = n.recovery_workflow_details ?? []
  if (steps.length > 0) {
    parts.push(
      'recovery workflow:',
      renderTable(
        ['step', 'state', 'progress', 'last message'],
        steps.map((s) => [s.name, s.state, `${Math.round(s.progress * 100)}%`, dash(s.progress_details?.at(-1)?.message)]),
      ),
    )
  }
  if (vmoves && vmoves.length > 0) parts.push('instances:', vmoveTable(vmoves))
  return parts.join('\n\n')
}

export const vmoveTable = (vmoves: readonly Vmove[]): string =>
  renderTable(
    ['instance', 'from', 'to', 'seconds', 'result', 'message'],
    vmoves.map((v) => [dash(v.instance_name ?? v.instance_uuid), dash(v.source_host), dash(v.dest_host), duration(v.start_time, v.end_time), v.status, dash(v.message)]),
  )

/** Alerts: `cleared` is when the condition ended, `-` while it is active. */
export const alertTable = (alerts: readonly Alert[]): string =>
  renderTable(
    ['uuid', 'kind', 'severity', 'host', 'segment', 'raised', 'cleared', 'message'],
    alerts.map((a) => [a.uuid, a.kind, a.severity, dash(a.host), dash(a.segment_id), when(a.created_at), when(a.cleared_at), a.message]),
  )

/** Per resource class, `VCPU 8, MEMORY_MB 16384, DISK_GB 160` (classes at 0 left out; `-` for none). */
const perClass = (v: Partial<Record<'VCPU' | 'MEMORY_MB' | 'DISK_GB', number | undefined>>): string =>
  (['VCPU', 'MEMORY_MB', 'DISK_GB'] as const)
    .filter((c) => (v[c] ?? 0) > 0)
    .map((c) => `${c} ${v[c]}`)
    .join(', ') || '-'

/** `lazarus segment capacity`: the figures of GET /v1/segments/{id}/capacity. */
export const capacityRecord = (segment: Segment, c: SegmentCapacity): string =>
  renderRecord([
    ['segment', `${segment.name} (${segment.uuid})`],
    ['tolerates', `${c.host_failures_tolerated} host failure(s)${c.host_failures_tolerated === c.max_k ? ` (counted up to ${c.max_k})` : ''}`],
    ['target', `${c.capacity_target} (capacity_policy ${c.capacity_policy})${c.below_target ? ': BELOW TARGET' : ''}`],
    [
      'reserved_needed',
      `${perClass(c.reserved_needed)}${(c.reserved_needed.VCPU ?? 0) + (c.reserved_needed.MEMORY_MB ?? 0) + (c.reserved_needed.DISK_GB ?? 0) > 0 ? ' (free capacity to add for one more failure)' : ''}`,
    ],
    ['free', perClass(c.free)],
    ['unabsorbable', c.unabsorbable_hosts.length ? c.unabsorbable_hosts.join(', ') : '-'],
    ['hosts', `${c.hosts} (${c.usable_hosts} usable)`],
    ['instances', String(c.instances)],
    ['computed_at', when(c.computed_at)],
    ...c.warnings.map((w, i): [string, string] => [i === 0 ? 'warnings' : '', w]),
  ])

/** `lazarus plan`: one row per instance in start order, then the totals. */
export const planTable = (segment: Segment, p: SegmentPlan): string => {
  const rows = p.placements.map((x) => [
    String(x.wave),
    String(x.priority),
    dash(x.group),
    `${x.name} (${x.instance_id.slice(0, 8)})`,
    `${x.from} → ${x.target ?? '-'}`,
    x.fits ? 'yes' : `no: ${dash(x.reason)}`,
    x.fits ? String(x.expected_s) : '-',
  ])
  const head = `plan of ${p.failed_hosts.join(', ')} failing in segment ${segment.name} (strategy ${p.strategy}, ${p.concurrency} at once, ${p.evacuation_s} s per evacuation, ${p.evacuation_s_source}); nothing was changed`
  const table = rows.length ? renderTable(['wave', 'priority', 'group', 'instance', 'from → to', 'fits', 'expected s'], rows) : 'no instances on these hosts'
  const tail = `${p.placements.length - p.unplaced} of ${p.placements.length} instance(s) placed; all ACTIVE after ${p.expected_s} s expected${p.unplaced ? `; ${p.unplaced} fit nowhere` : ''}`
  return [head, '', table, '', tail, ...p.warnings.map((w) => `warning: ${w}`)].join('\n')
}
