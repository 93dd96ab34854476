import type { EventDraft, NotificationReceivedV1 } from '@lazarus/contracts'

export const SOURCE = 'detector'

type Published = 'host.failed.v1' | 'instance.failed.v1' | 'process.failed.v1' | 'host.unfence_requested.v1' | 'recovery.finished.v1'

/** One event the detector publishes for a notification. */
export type DecisionDraft = { [T in Published]: EventDraft<T> }[Published]

export type Outcome = 'host_failed' | 'instance_failed' | 'process_failed' | 'finished' | 'ignored'

/** What the detector publishes for one received notification, in order, and why. */
export interface Decision {
  outcome: Outcome
  message: string
  drafts: DecisionDraft[]
}

export interface DecideOptions {
  /** A COMPUTE_HOST STARTED notification asks the fencer to re-enable the compute service too, not only to clear forced_down. */
  unfenceEnablesService?: boolean
}

/**
 * The libvirt events Masakari's instance-failure flow acts on, as its
 * engine/instance_events.py has them: `event` (the libvirt event id, e.g. `LIFECYCLE`) →
 * `vir_domain_event` (its detail, e.g. `STOPPED_FAILED`). masakari-monitors' instancemonitor
 * and introspective instancemonitor send them that way round. Any other VM notification is
 * recorded `ignored`.
 */
export const VM_EVENTS_ACTED_ON: ReadonlyMap<string, string> = new Map([
  ['LIFECYCLE', 'STOPPED_FAILED'],
  ['QEMU_GUEST_AGENT_ERROR', 'STOPPED_FAILED'],
  ['IO_ERROR', 'IO_ERROR_REPORT'],
])

/** The only process whose failure is recovered (by disabling its compute service). */
export const RECOVERED_PROCESS = 'nova-compute'

/**
 * Decide what a received notification means. Pure: the same input gives the same output.
 *
 * - COMPUTE_HOST STOPPED declares the host failed whatever its `host_status`. Masakari acts
 *   only on `host_status=NORMAL` (its monitor confirmed the power is off) and ignores the
 *   rest; Lazarus fences the host itself before anything is evacuated, so a host whose
 *   power-off nobody confirmed is fenced, not ignored. COMPUTE_HOST STARTED finishes the
 *   notification and asks the fencer to undo a force-down.
 * - VM: `instance.failed` for the three libvirt events Masakari acts on, else ignored.
 * - PROCESS: `process.failed` for nova-compute STOPPED; STARTED finishes with nothing to do;
 *   anything else is ignored.
 * A host on maintenance or in a disabled segment is never recovered (ignored).
 */
export const decideNotification = (evt: NotificationReceivedV1, now: Date, opts: DecideOptions = {}): Decision => {
  const { notificationId, type, host, segment, payload } = evt.payload
  const envelope = { correlationId: notificationId, causationId: evt.id, source: SOURCE, now }
  const end = (status: 'finished' | 'ignored', message: string, before: DecisionDraft[] = []): Decision => ({
    outcome: status,
    message,
    drafts: [...before, { ...envelope, type: 'recovery.finished.v1', payload: { notificationId, status, message, moved: [], failed: [] } }],
  })
  /** Why a host must not be recovered now, if it must not. */
  const notRecovered = (): string | undefined => {
    if (!segment.enabled) return `segment ${segment.name} is disabled; host ${host.name} is not recovered`
    // A retried notification whose host is on maintenance only because its own recovery put
    // it there (a failed fence) is recovered: that maintenance is the failure being retried.
    if (host.onMaintenance && evt.payload.retry?.recoveryMaintenance !== true) return `host ${host.name} is on maintenance; it is not recovered`
    return undefined
  }
  const event = payload['event']

  if (type === 'VM') {
    const domainEvent = payload['vir_domain_event']
    const instanceId = payload['instance_uuid']
    if (typeof instanceId !== 'string' || instanceId === '') {
      return end('ignored', `VM notification without an instance_uuid (${describe(instanceId)})`)
    }
    if (typeof domainEvent !== 'string' || typeof event !== 'string' || VM_EVENTS_ACTED_ON.get(event) !== domainEvent) {
      return end(
        'ignored',
        `VM notification ${describe(event)}/${describe(domainEvent)} for instance ${instanceId} is not a failure Lazarus recovers ` +
          `(only ${[...VM_EVENTS_ACTED_ON].map(([e, d]) => `${e}/${d}`).join(', ')})`,
      )
    }
    const skip = notRecovered()
    if (skip) return end('ignored', skip)
    return {
      outcome: 'instance_failed',
      message: `instance ${instanceId} on ${host.name} failed (${event}/${domainEvent})`,
      drafts: [
        {
          ...envelope,
          type: 'instance.failed.v1',
          payload: { notificationId, host, segment, instanceId, virDomainEvent: domainEvent, event },
        },
      ],
    }
  }

  if (type === 'PROCESS') {
    const processName = payload['process_name']
    const name = typeof processName === 'string' ? processName : describe(processName)
    if (event === 'STARTED') return end('finished', `process ${name} on ${host.name} started; nothing to recover`)
    if (event !== 'STOPPED') {
      return end('ignored', `PROCESS notification with event ${describe(event)}: expected STARTED or STOPPED`)
    }
    if (processName !== RECOVERED_PROCESS) {
      return end('ignored', `process ${name} stopped on ${host.name}; only ${RECOVERED_PROCESS} is recovered`)
    }
    const skip = notRecovered()
    if (skip) return end('ignored', skip)
    return {
      outcome: 'process_failed',
      message: `${RECOVERED_PROCESS} stopped on ${host.name}`,
      drafts: [{ ...envelope, type: 'process.failed.v1', payload: { notificationId, host, segment, processName, event } }],
    }
  }

  if (event === 'STARTED') {
    // The fencer clears forced_down (a no-op for a host it never fenced). A host on
    // maintenance is not put back into service: its operator decides when.
    const enableService = (opts.unfenceEnablesService ?? false) && !host.onMaintenance
    return end('finished', 'host started; nothing to recover', [
      {
        ...envelope,
        type: 'host.unfence_requested.v1',
        payload: { notificationId, host, segment, enableService, requestedBy: `notification ${notificationId}` },
      },
    ])
  }
  if (event !== 'STOPPED') {
    return end('ignored', `COMPUTE_HOST notification with event ${describe(event)}: expected STARTED or STOPPED`)
  }
  const skip = notRecovered()
  if (skip) return end('ignored', skip)

  const hostStatus = payload['host_status']
  const reason =
    hostStatus === 'NORMAL'
      ? `host ${host.name} stopped (monitor confirmed power off)`
      : `host ${host.name} stopped (host_status ${describe(hostStatus)}: power off unconfirmed; it will be fenced)`
  return {
    outcome: 'host_failed',
    message: reason,
    drafts: [
      {
        ...envelope,
        type: 'host.failed.v1',
        payload: { notificationId, host, segment, reason, ...(evt.payload.retry ? { retriedAt: evt.payload.retry.at } : {}) },
      },
    ],
  }
}

const describe = (v: unknown): string => (v === undefined ? 'missing' : JSON.stringify(v))
