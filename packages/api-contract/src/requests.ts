import { NotificationType, RecoveryMethod, storableText, TEXT_LIMITS } from '@lazarus/contracts'
import * as z from 'zod'
import { controlAttributesRefusal } from './control-attributes.js'

/**
 * Request bodies of the v1 API, as Masakari's JSON schemas define them: unknown keys are
 * rejected, booleans may also be Masakari's strings ('True', 'yes', '0', ...). Every string
 * has a length bound (TEXT_LIMITS, in the contracts) and none may hold a NUL or invalid
 * Unicode, which PostgreSQL cannot store.
 */

const TRUE = ['True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes'] as const
const FALSE = ['False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no'] as const

export const MasakariBoolean = z.union([z.boolean(), z.enum([...TRUE, ...FALSE])]).transform((v) => v === true || (TRUE as readonly string[]).includes(v as string))

/** Printable, 1–255 characters, no leading or trailing whitespace. */
export const Name = z
  .string()
  .min(1)
  .max(TEXT_LIMITS.name)
  .regex(/^(?!\s)[^\p{C}]*(?<!\s)$/u, 'printable characters; cannot start or end with whitespace')

/** Free text of at most `max` characters, printable characters and newlines, or null. */
const freeText = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[\n\P{C}]*$/u, 'printable characters only')
    .nullable()

/** A segment's description: at most 255 characters (Masakari's bound). */
export const Description = freeText(TEXT_LIMITS.description)

/**
 * A host's control_attributes: free text as Masakari takes it (which bounds it not at all;
 * Lazarus at 4096 characters), without a BMC password in clear (see control-attributes.ts).
 */
export const ControlAttributes = freeText(TEXT_LIMITS.longText).superRefine((v, ctx) => {
  const refusal = v === null ? undefined : controlAttributesRefusal(v)
  if (refusal) ctx.addIssue({ code: 'custom', message: refusal })
})

const HostType = z
  .string()
  .max(TEXT_LIMITS.name)
  .regex(/^[a-zA-Z0-9]*$/, 'letters and digits only')
  .nullable()

/** Lazarus extension: how hard the fencer acts before recovery (1, 2 or 3; default 2). */
export const QuickEvacuateLevelInput = z.union([z.literal(1), z.literal(2), z.literal(3)])

/**
 * Lazarus extension: the storm guard's thresholds of a segment (null: the default, 5 hosts,
 * 0.5 of the segment, 120 s). Host failures beyond them within the window are held and the
 * segment paused.
 */
export const StormMaxFailures = z.number().int().min(1).max(10_000).nullable()
export const StormMaxFailedFraction = z.number().gt(0).max(1).nullable()
export const StormWindowS = z.number().int().min(1).max(86_400).nullable()

/**
 * Lazarus extension: what the api does when putting a host on maintenance (or deleting it)
 * leaves the segment tolerating fewer host failures than `capacity_target` (null: `off`):
 * `off` nothing, `warn` a `Lazarus-Warning` header, `alert` also a `capacity` alert, `refuse` 409.
 */
export const CapacityPolicy = z.enum(['off', 'warn', 'alert', 'refuse'])
export type CapacityPolicy = z.infer<typeof CapacityPolicy>
/** Host failures the segment should keep tolerating (null: 1). */
export const CapacityTarget = z.number().int().min(1).max(100).nullable()

const segmentFields = {
  name: Name,
  description: Description.optional(),
  recovery_method: RecoveryMethod,
  service_type: Name,
  enabled: MasakariBoolean.optional(),
  quick_evacuate_level: QuickEvacuateLevelInput.optional(),
  storm_max_failures: StormMaxFailures.optional(),
  storm_max_failed_fraction: StormMaxFailedFraction.optional(),
  storm_window_s: StormWindowS.optional(),
  capacity_policy: CapacityPolicy.nullable().optional(),
  capacity_target: CapacityTarget.optional(),
}

export const SegmentCreate = z.strictObject({ segment: z.strictObject(segmentFields) })
export type SegmentCreate = z.infer<typeof SegmentCreate>

const atLeastOne = <T extends object>(v: T) => Object.keys(v).length > 0

export const SegmentUpdate = z.strictObject({
  segment: z
    .strictObject({
      name: segmentFields.name.optional(),
      description: segmentFields.description,
      recovery_method: segmentFields.recovery_method.optional(),
      service_type: segmentFields.service_type.optional(),
      enabled: segmentFields.enabled,
      quick_evacuate_level: segmentFields.quick_evacuate_level,
      storm_max_failures: segmentFields.storm_max_failures,
      storm_max_failed_fraction: segmentFields.storm_max_failed_fraction,
      storm_window_s: segmentFields.storm_window_s,
      capacity_policy: segmentFields.capacity_policy,
      capacity_target: segmentFields.capacity_target,
    })
    .refine(atLeastOne, 'at least one field to update is required'),
})
export type SegmentUpdate = z.infer<typeof SegmentUpdate>

const hostFields = {
  name: Name,
  type: HostType,
  control_attributes: ControlAttributes,
  reserved: MasakariBoolean.optional(),
  on_maintenance: MasakariBoolean.optional(),
}

export const HostCreate = z.strictObject({ host: z.strictObject(hostFields) })
export type HostCreate = z.infer<typeof HostCreate>

export const HostUpdate = z.strictObject({
  host: z
    .strictObject({
      name: hostFields.name.optional(),
      type: hostFields.type.optional(),
      control_attributes: hostFields.control_attributes.optional(),
      reserved: hostFields.reserved,
      on_maintenance: hostFields.on_maintenance,
    })
    .refine(atLeastOne, 'at least one field to update is required'),
})
export type HostUpdate = z.infer<typeof HostUpdate>

/** Masakari's generic payload: string values, keys of printable ASCII. */
const GenericPayload = z.record(z.string().regex(/^[a-zA-Z0-9\-_:. ]{1,255}$/, 'payload keys are 1–255 of [a-zA-Z0-9-_:. ]'), storableText(TEXT_LIMITS.name))

export const NotificationCreate = z.strictObject({
  notification: z.strictObject({
    type: NotificationType,
    hostname: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[a-zA-Z0-9\-._]*$/, 'a host name: letters, digits, - . _'),
    generated_time: z.string().min(1).max(64),
    payload: GenericPayload,
  }),
})
export type NotificationCreate = z.infer<typeof NotificationCreate>

/** The payload of each notification type: one definition, in the contracts. */
export { notificationPayloadSchemas as payloadSchemas } from '@lazarus/contracts'

/** `POST /v1/segments/{id}/pause` (Lazarus extension); the body may be empty. */
export const SegmentPause = z.strictObject({
  reason: z
    .string()
    .max(TEXT_LIMITS.name)
    .regex(/^[\P{C}]*$/u, 'printable characters only')
    .nullable()
    .optional(),
})

/** `POST /v1/segments/{id}/resume` (Lazarus extension); the body may be empty. */
export const SegmentResume = z.strictObject({
  /** Publish the notifications held while paused (default), or record them ignored. */
  release_held: MasakariBoolean.optional(),
})

/** `POST /v1/notifications/{id}/retry` (Lazarus extension): no fields; the body may be empty. */
export const NotificationRetry = z.strictObject({})

/** `POST /v1/notifications/{id}/release` (Lazarus extension): no fields; the body may be empty. */
export const NotificationRelease = z.strictObject({})

/** Most hosts one what-if plan may fail at once. */
export const MAX_PLAN_HOSTS = 100

/**
 * `POST /v1/segments/{id}/plans` (Lazarus extension): what the recovery of these hosts of the
 * segment would do; `concurrency` evacuations at once (default: the evacuator's default slots).
 */
export const SegmentPlanCreate = z.strictObject({
  plan: z.strictObject({
    hosts: z.array(Name).min(1).max(MAX_PLAN_HOSTS),
    concurrency: z.number().int().min(1).max(1000).optional(),
  }),
})
export type SegmentPlanCreate = z.infer<typeof SegmentPlanCreate>

/** What a client sends (booleans may still be Masakari's strings). */
export type SegmentCreateInput = z.input<typeof SegmentCreate>
export type SegmentUpdateInput = z.input<typeof SegmentUpdate>
export type HostCreateInput = z.input<typeof HostCreate>
export type HostUpdateInput = z.input<typeof HostUpdate>
export type NotificationCreateInput = z.input<typeof NotificationCreate>
