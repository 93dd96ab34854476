import * as z from 'zod'
import { defineEvent } from '../envelope.js'
import { HostSnapshot, NotificationStatus, NotificationType, QuickEvacuateLevel, SegmentSnapshot, TaskState } from '../model.js'

const InstanceRef = z.object({ id: z.string().min(1), name: z.string() })

/** api: a notification was accepted and persisted; it is `new`. */
export const NotificationReceivedV1 = defineEvent(
  'notification.received.v1',
  z.object({
    notificationId: z.uuid(),
    type: NotificationType,
    hostname: z.string().min(1),
    generatedTime: z.iso.datetime({ offset: true }),
    payload: z.record(z.string(), z.unknown()),
    host: HostSnapshot,
    segment: SegmentSnapshot,
    /**
     * Set when an operator retried the notification (POST .../retry): when, and whether the
     * host is on maintenance only because this notification's own recovery put it there (a
     * failed fence leaves it so). Such maintenance does not stop the retry.
     */
    retry: z.object({ at: z.iso.datetime({ offset: true }), recoveryMaintenance: z.boolean() }).optional(),
  }),
)
export type NotificationReceivedV1 = z.infer<typeof NotificationReceivedV1>

/** detector: a compute host is dead and must be fenced, then recovered. */
export const HostFailedV1 = defineEvent(
  'host.failed.v1',
  z.object({
    notificationId: z.uuid(),
    host: HostSnapshot,
    segment: SegmentSnapshot,
    reason: z.string(),
    /** An operator's retry of the notification, when this is one: the fencer fences again after a failed fence. */
    retriedAt: z.iso.datetime({ offset: true }).optional(),
  }),
)
export type HostFailedV1 = z.infer<typeof HostFailedV1>

/**
 * fencer: one try of one device of a host's fencing topology (its power off and confirmation):
 * `ok` confirmed off, `refused` answered no or failed, `timed_out` did not answer in time.
 * Added in schema 1.1.
 */
export const FenceAttempt = z.object({
  level: z.number().int().min(1).max(9),
  device: z.string().min(1).max(64),
  attempt: z.number().int().min(1),
  result: z.enum(['ok', 'refused', 'timed_out']),
  ms: z.number().nonnegative(),
  message: z.string(),
})
export type FenceAttempt = z.infer<typeof FenceAttempt>

/** fencer: the host can do no harm any more and Nova knows it is down. */
export const HostFencedV1 = defineEvent(
  'host.fenced.v1',
  z.object({
    notificationId: z.uuid(),
    host: HostSnapshot,
    segment: SegmentSnapshot,
    level: QuickEvacuateLevel,
    poweredOff: z.boolean(),
    forcedDown: z.boolean(),
    /**
     * The reason the nova-compute service was disabled with, in the same Nova call as the
     * force-down; absent when the fencer did not disable it (the evacuator then does).
     */
    disabledReason: z.string().min(1).optional(),
    /** Milliseconds spent in each fencing step, for the timeline. */
    timings: z.record(z.string(), z.number().nonnegative()),
    /** The tries of fencing devices, in order, when the host was powered off (schema 1.1). */
    fenceAttempts: z.array(FenceAttempt).max(100).optional(),
  }),
)
export type HostFencedV1 = z.infer<typeof HostFencedV1>

/** fencer: fencing could not be confirmed; nothing may be evacuated. */
export const HostFenceFailedV1 = defineEvent(
  'host.fence_failed.v1',
  z.object({
    notificationId: z.uuid(),
    host: HostSnapshot,
    segment: SegmentSnapshot,
    reason: z.string(),
    /** The tries of fencing devices, in order, when power off was tried (schema 1.1). */
    fenceAttempts: z.array(FenceAttempt).max(100).optional(),
  }),
)
export type HostFenceFailedV1 = z.infer<typeof HostFenceFailedV1>

/** any service: a step of a recovery started, progressed or ended. */
export const RecoveryProgressV1 = defineEvent(
  'recovery.progress.v1',
  z.object({
    notificationId: z.uuid(),
    /** Task name, e.g. `fence_host`, `disable_compute_service_task`, `evacuate_instances_task`. */
    task: z.string().min(1),
    state: TaskState,
    message: z.string(),
    /** 0..1 */
    progress: z.number().min(0).max(1),
    /**
     * `error`: this attempt failed and the recovery will be retried automatically (Masakari's
     * `error`, which its periodic task re-runs). Absent: the recovery is running.
     */
    notificationStatus: z.literal('error').optional(),
    /** The evacuate call of this instance was made: its vmove is `ongoing` (until its outcome). */
    vmoveOngoing: z.object({ instanceId: z.string().min(1), at: z.iso.datetime({ offset: true }) }).optional(),
  }),
)
export type RecoveryProgressV1 = z.infer<typeof RecoveryProgressV1>

/** evacuator: one instance of a failed host is to be moved; a work item on a shared queue. */
export const EvacuationRequestedV1 = defineEvent(
  'evacuation.requested.v1',
  z.object({
    notificationId: z.uuid(),
    sourceHost: z.string().min(1),
    instance: InstanceRef,
    /** Target host, or absent to let Nova's scheduler choose. */
    targetHost: z.string().min(1).optional(),
  }),
)
export type EvacuationRequestedV1 = z.infer<typeof EvacuationRequestedV1>

/** evacuator: an instance runs again on another host. */
export const InstanceEvacuatedV1 = defineEvent(
  'instance.evacuated.v1',
  z.object({
    notificationId: z.uuid(),
    instance: InstanceRef,
    sourceHost: z.string(),
    destHost: z.string(),
    startedAt: z.iso.datetime({ offset: true }),
    endedAt: z.iso.datetime({ offset: true }),
  }),
)
export type InstanceEvacuatedV1 = z.infer<typeof InstanceEvacuatedV1>

/** evacuator: an instance could not be moved; the reason says what state it was left in. */
export const InstanceEvacuationFailedV1 = defineEvent(
  'instance.evacuation_failed.v1',
  z.object({
    notificationId: z.uuid(),
    instance: InstanceRef,
    sourceHost: z.string(),
    reason: z.string(),
    startedAt: z.iso.datetime({ offset: true }),
    endedAt: z.iso.datetime({ offset: true }),
  }),
)
export type InstanceEvacuationFailedV1 = z.infer<typeof InstanceEvacuationFailedV1>

/** any service: the recovery of a notification ended; the api records its final status. */
export const RecoveryFinishedV1 = defineEvent(
  'recovery.finished.v1',
  z.object({
    notificationId: z.uuid(),
    status: NotificationStatus.extract(['finished', 'failed', 'ignored']),
    message: z.string(),
    moved: z.array(z.object({ instance: InstanceRef, destHost: z.string() })),
    failed: z.array(z.object({ instance: InstanceRef, reason: z.string() })),
  }),
)
export type RecoveryFinishedV1 = z.infer<typeof RecoveryFinishedV1>

/** detector: an instance failed on a host (a `VM` notification Lazarus acts on). */
export const InstanceFailedV1 = defineEvent(
  'instance.failed.v1',
  z.object({
    notificationId: z.uuid(),
    host: HostSnapshot,
    segment: SegmentSnapshot,
    instanceId: z.string().min(1),
    /** libvirt event as the monitor reported it, e.g. LIFECYCLE / STOPPED_FAILED. */
    virDomainEvent: z.string(),
    event: z.string(),
  }),
)
export type InstanceFailedV1 = z.infer<typeof InstanceFailedV1>

/** detector: a key process (nova-compute) failed on a host that is otherwise up. */
export const ProcessFailedV1 = defineEvent(
  'process.failed.v1',
  z.object({
    notificationId: z.uuid(),
    host: HostSnapshot,
    segment: SegmentSnapshot,
    processName: z.string().min(1),
    event: z.string(),
  }),
)
export type ProcessFailedV1 = z.infer<typeof ProcessFailedV1>

/**
 * api or detector: an operator brought a fenced host back (maintenance off, or a
 * COMPUTE_HOST STARTED notification); the fencer undoes force-down per policy.
 */
export const HostUnfenceRequestedV1 = defineEvent(
  'host.unfence_requested.v1',
  z.object({
    /** The notification or operator action this belongs to. */
    notificationId: z.uuid().optional(),
    host: HostSnapshot,
    segment: SegmentSnapshot,
    /** Re-enable the compute service too, not only clear forced_down. */
    enableService: z.boolean(),
    requestedBy: z.string(),
  }),
)
export type HostUnfenceRequestedV1 = z.infer<typeof HostUnfenceRequestedV1>

/** fencer: force-down was undone (and the service re-enabled if asked). */
export const HostUnfencedV1 = defineEvent(
  'host.unfenced.v1',
  z.object({
    notificationId: z.uuid().optional(),
    host: HostSnapshot,
    segment: SegmentSnapshot,
    serviceEnabled: z.boolean(),
  }),
)
export type HostUnfencedV1 = z.infer<typeof HostUnfencedV1>

/**
 * any service: something needs an operator: a fencing storm paused a segment, a host is
 * isolated, a fence failed. Shown on the dashboard and counted in metrics.
 */
export const AlertKind = z.enum(['storm', 'isolated', 'unconfirmed', 'fence_failed', 'capacity', 'other'])
export type AlertKind = z.infer<typeof AlertKind>

export const AlertRaisedV1 = defineEvent(
  'alert.raised.v1',
  z.object({
    kind: AlertKind,
    severity: z.enum(['warning', 'critical']),
    segmentId: z.uuid().optional(),
    host: z.string().optional(),
    notificationId: z.uuid().optional(),
    message: z.string(),
  }),
)
export type AlertRaisedV1 = z.infer<typeof AlertRaisedV1>

/**
 * any service: the condition of some alerts it raised has ended (e.g. the detector hears a
 * silent, isolated or clock-skewed host again). It names the alerts by what they are about,
 * not by id: the api clears its active alerts of one of `kinds`, raised by this event's
 * `source`, about `host` (and `segmentId`, when given). A clear that matches nothing changes
 * nothing; a repeated one changes nothing more.
 */
export const AlertClearedV1 = defineEvent(
  'alert.cleared.v1',
  z
    .object({
      kinds: z.array(AlertKind).min(1).max(16),
      segmentId: z.uuid().optional(),
      host: z.string().min(1).max(255).optional(),
      reason: z.string().max(1024),
    })
    .refine((p) => p.host !== undefined || p.segmentId !== undefined, { message: 'an alert clear names a host or a segment' }),
)
export type AlertClearedV1 = z.infer<typeof AlertClearedV1>

/**
 * evacuator: a reserved host of the segment was claimed for a recovery; the api clears
 * its `reserved` flag so that no other recovery counts on it.
 */
export const HostReservedClaimedV1 = defineEvent(
  'host.reserved_claimed.v1',
  z.object({
    notificationId: z.uuid(),
    segmentId: z.uuid(),
    host: z.string().min(1),
    failedHost: z.string().min(1),
  }),
)
export type HostReservedClaimedV1 = z.infer<typeof HostReservedClaimedV1>

/** Every event, by its `type`. */
export const LazarusEvent = z.discriminatedUnion('type', [
  NotificationReceivedV1,
  HostFailedV1,
  HostFencedV1,
  HostFenceFailedV1,
  RecoveryProgressV1,
  EvacuationRequestedV1,
  InstanceEvacuatedV1,
  InstanceEvacuationFailedV1,
  RecoveryFinishedV1,
  InstanceFailedV1,
  ProcessFailedV1,
  HostUnfenceRequestedV1,
  HostUnfencedV1,
  AlertRaisedV1,
  AlertClearedV1,
  HostReservedClaimedV1,
])
export type LazarusEvent = z.infer<typeof LazarusEvent>
export type EventType = LazarusEvent['type']
export type EventOf<T extends EventType> = Extract<LazarusEvent, { type: T }>
