import { NotificationEvent } from '@lazarus/contracts'
import { readFileSync } from 'node:fs'
import * as z from 'zod'

/**
 * Mapping rules: how an external fault event (a JSON object from Kafka or NATS, or one
 * Alertmanager alert) becomes a Masakari notification. Every place a value is read from
 * is a list of paths into the event (`labels.instance`, `payload.event`); the first one
 * that holds a non-empty value wins. Names and values are compared case-insensitively.
 */

const Paths = z.array(z.string().min(1))

/** A value read from the first path that holds one, else `default`. */
const Field = z.strictObject({
  from: Paths.default([]),
  default: z.string().min(1).optional(),
})
export type Field = z.infer<typeof Field>

const Pattern = z
  .string()
  .min(1)
  .refine((p) => {
    try {
      new RegExp(p)
      return true
    } catch {
      return false
    }
  }, 'not a valid regular expression')

const HostRule = z.strictObject({
  from: Paths.min(1),
  /** Applied to the value found: the first capture group (or the whole match) is the host name. */
  pattern: Pattern.optional(),
})

const EventTypeRule = z.strictObject({ from: Paths.min(1) })

const TimeRule = z.strictObject({
  /** ISO 8601 text, or a number of seconds (or milliseconds, when above 10^12) since the epoch. */
  from: Paths.default([]),
})

const StateRule = z.strictObject({
  from: Paths.default([]),
  stopped: z.array(z.string().min(1)).min(1),
  started: z.array(z.string().min(1)),
  /** The state of an event that names none. Unset: such an event does not map. */
  default: NotificationEvent.optional(),
})

const ComputeHostRule = z.strictObject({
  eventTypes: z.array(z.string().min(1)),
  /** `host_status` of a STOPPED host: NORMAL when the source confirmed the power is off, else UNKNOWN. */
  hostStatus: Field,
})

const VmRule = z.strictObject({
  eventTypes: z.array(z.string().min(1)),
  instanceUuid: Field,
  virDomainEvent: Field,
  event: Field,
})

const ProcessRule = z.strictObject({
  eventTypes: z.array(z.string().min(1)),
  processName: Field,
})

export const MappingRules = z.strictObject({
  host: HostRule,
  eventType: EventTypeRule,
  time: TimeRule,
  state: StateRule,
  computeHost: ComputeHostRule,
  vm: VmRule,
  process: ProcessRule,
})
export type MappingRules = z.infer<typeof MappingRules>

/**
 * Defaults that read Masakari-shaped events (`{type, hostname, generated_time, payload}`),
 * plain ones (`{type: "host.down", host, state, time}`) and Alertmanager alerts
 * (`labels.alertname`, `labels.instance`, `status`).
 */
export const defaultMappingRules: MappingRules = {
  host: {
    from: ['hostname', 'host', 'host_name', 'labels.hostname', 'labels.host', 'labels.nodename', 'labels.node', 'labels.instance'],
    // `compute-1:9100` (a Prometheus instance label) names host `compute-1`.
    pattern: '^([^:\\s/]+)',
  },
  eventType: { from: ['type', 'event_type', 'eventType', 'labels.alertname', 'alertname'] },
  time: { from: ['generated_time', 'time', 'timestamp', 'occurred_at', 'occurredAt'] },
  state: {
    from: ['payload.event', 'event', 'state', 'status'],
    // A VM event in Masakari's shape carries the libvirt event id in `event` (LIFECYCLE,
    // IO_ERROR, QEMU_GUEST_AGENT_ERROR): a failure report; the detector decides which it acts on.
    stopped: ['STOPPED', 'down', 'failed', 'failure', 'firing', 'critical', 'STOPPED_FAILED', 'IO_ERROR_REPORT', 'LIFECYCLE', 'IO_ERROR', 'QEMU_GUEST_AGENT_ERROR'],
    started: ['STARTED', 'up', 'ok', 'resolved', 'recovered'],
    default: 'STOPPED',
  },
  computeHost: {
    eventTypes: ['COMPUTE_HOST', 'host.down', 'host.failed', 'HostDown', 'NodeDown', 'ComputeHostDown'],
    hostStatus: { from: ['payload.host_status', 'host_status', 'labels.host_status'], default: 'UNKNOWN' },
  },
  vm: {
    eventTypes: ['VM', 'vm.failed', 'vm.crashed', 'VMDown', 'VMFailed'],
    instanceUuid: { from: ['payload.instance_uuid', 'instance_uuid', 'instance_id', 'labels.instance_uuid', 'labels.instance_id'] },
    // Masakari's VM payload: `event` is the libvirt event id, `vir_domain_event` its detail
    // (masakari-monitors' instancemonitor: {event: 'LIFECYCLE', vir_domain_event: 'STOPPED_FAILED'}).
    virDomainEvent: { from: ['payload.vir_domain_event', 'vir_domain_event', 'labels.vir_domain_event'], default: 'STOPPED_FAILED' },
    event: { from: ['payload.event', 'vm_event', 'labels.vm_event'], default: 'LIFECYCLE' },
  },
  process: {
    eventTypes: ['PROCESS', 'process.down', 'process.failed', 'ProcessDown'],
    processName: { from: ['payload.process_name', 'process_name', 'process', 'labels.process_name', 'labels.process'] },
  },
}

/** Partial rules: each section given replaces those keys of the default section. */
const PartialRules = z.strictObject(
  Object.fromEntries(Object.entries(MappingRules.shape).map(([k]) => [k, z.record(z.string(), z.unknown()).optional().describe(k)])) as {
    [K in keyof MappingRules]: z.ZodOptional<z.ZodRecord<z.ZodString, z.ZodUnknown>>
  },
)

export class MappingRulesError extends Error {
  override name = 'MappingRulesError'
}

/**
 * Rules from JSON (an object, its text, or `@/path/to/file.json`), merged over the
 * defaults section by section. Throws a MappingRulesError naming the bad key.
 */
export const parseMappingRules = (input: unknown): MappingRules => {
  let raw = input
  if (typeof raw === 'string') {
    const text = raw.trim()
    if (text === '') return defaultMappingRules
    let source = text
    if (text.startsWith('@') || !text.startsWith('{')) {
      const file = text.startsWith('@') ? text.slice(1) : text
      try {
        source = readFileSync(file, 'utf8')
      } catch (err) {
        throw new MappingRulesError(`mapping rules: cannot read ${file} (${(err as Error).message})`)
      }
    }
    try {
      raw = JSON.parse(source) as unknown
    } catch (err) {
      throw new MappingRulesError(`mapping rules: not JSON (${(err as Error).message})`)
    }
  }
  if (raw === undefined || raw === null) return defaultMappingRules
  const partial = PartialRules.safeParse(raw)
  if (!partial.success) throw new MappingRulesError(`mapping rules: ${describe(partial.error)}`)
  const merged = Object.fromEntries(Object.entries(defaultMappingRules).map(([k, def]) => [k, { ...def, ...(partial.data[k as keyof MappingRules] ?? {}) }]))
  const rules = MappingRules.safeParse(merged)
  if (!rules.success) throw new MappingRulesError(`mapping rules: ${describe(rules.error)}`)
  return rules.data
}

const describe = (error: z.ZodError): string => error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ')
