import { RecoveryMethod, type SegmentCreateInput, type SegmentUpdateInput } from '@lazarus/api-contract'
import { argument, boolValue, choice, command, group, intValue, printJson, str, type Context, type Opts, type Program, type Run } from '../cli.js'
import { usageError } from '../errors.js'
import { segmentRecord, segmentTable } from '../render/views.js'
import { listAllSegments, resolveSegment } from '../resolve.js'
import { addPlanCommands } from './plan.js'

const segmentArg = () => argument('segment', 'segment name or uuid')

/** `[flags, description]` of the options `segment create|update` share. */
const FIELDS = {
  description: ['--description <text>', 'free text'],
  recoveryMethod: ['--recovery-method <method>', `how instances are recovered: ${RecoveryMethod.options.join(', ')}`],
  serviceType: ['--service-type <type>', 'the service type the segment protects (Masakari: COMPUTE)'],
  level: ['--level <1|2|3>', 'quick_evacuate_level: 1 force-down only, 2 power off + confirm + force-down, 3 power off + wait for Nova'],
  stormMaxFailures: ['--storm-max-failures <n|default>', 'storm guard: more hosts than this failing within the window are held and the segment paused (default 5)'],
  stormMaxFailedFraction: [
    '--storm-max-failed-fraction <f|default>',
    "storm guard: more than this fraction (0 < f <= 1) of the segment's hosts failing within the window is a storm (default 0.5)",
  ],
  stormWindow: ['--storm-window <seconds|default>', 'storm guard: the window in seconds (default 120)'],
  capacityPolicy: [
    '--capacity-policy <off|warn|alert|refuse|default>',
    'when putting a host on maintenance (or deleting it) leaves fewer host failures tolerated than the target: off, warn, alert (a capacity alert), refuse (409)',
  ],
  capacityTarget: ['--capacity-target <n|default>', 'host failures the segment should tolerate (default 1)'],
} as const

const CAPACITY_POLICIES = ['off', 'warn', 'alert', 'refuse'] as const

/** A storm threshold flag: a number in its bounds, or `default` (null: the api's default). */
const stormValue = (v: string, parse: (v: string) => number): number | null => (v.trim().toLowerCase() === 'default' ? null : parse(v))

const fractionValue = (flag: string, v: string): number => {
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1) throw usageError(`--${flag} takes a fraction greater than 0 and at most 1, or "default" (got "${v}")`)
  return n
}

const showSegment = (ctx: Context, raw: unknown, data: Parameters<typeof segmentRecord>[0]) => {
  if (ctx.json) printJson(ctx, { segment: raw })
  else ctx.io.out(segmentRecord(data))
}

/** The fields of `segment create|update` from flags, in the api's names. */
const segmentBody = (opts: Opts): Record<string, unknown> => {
  const s = (k: string) => str(opts, k)
  const body: Record<string, unknown> = {}
  if (s('name') !== undefined) body['name'] = s('name')
  if (s('description') !== undefined) body['description'] = s('description') === '' ? null : s('description')
  if (s('recovery-method') !== undefined) body['recovery_method'] = choice('recovery-method', s('recovery-method') as string, RecoveryMethod.options)
  if (s('service-type') !== undefined) body['service_type'] = s('service-type')
  if (s('enabled') !== undefined) body['enabled'] = boolValue('enabled', s('enabled') as string)
  if (s('level') !== undefined) body['quick_evacuate_level'] = intValue('level', s('level') as string, 1, 3)
  const maxFailures = s('storm-max-failures')
  if (maxFailures !== undefined) body['storm_max_failures'] = stormValue(maxFailures, (v) => intValue('storm-max-failures', v, 1, 10_000))
  const fraction = s('storm-max-failed-fraction')
  if (fraction !== undefined) body['storm_max_failed_fraction'] = stormValue(fraction, (v) => fractionValue('storm-max-failed-fraction', v))
  const window = s('storm-window')
  if (window !== undefined) body['storm_window_s'] = stormValue(window, (v) => intValue('storm-window', v, 1, 86_400))
  const policy = s('capacity-policy')
  if (policy !== undefined) body['capacity_policy'] = policy.trim().toLowerCase() === 'default' ? null : choice('capacity-policy', policy, CAPACITY_POLICIES)
  const target = s('capacity-target')
  if (target !== undefined) body['capacity_target'] = stormValue(target, (v) => intValue('capacity-target', v, 1, 100))
  return body
}

const pauseSegment: Run = async (ctx, [ref], opts) => {
  const api = ctx.api()
  const { segment } = await resolveSegment(api, ref as string)
  const reason = str(opts, 'reason')
  const got = await api.pauseSegment(segment.uuid, reason === undefined ? {} : { reason })
  if (ctx.json) printJson(ctx, got.raw)
  else {
    const s = got.data.segment
    ctx.io.out(
      `segment ${s.name} paused${s.paused_reason ? ` (${s.paused_reason})` : ''}: host failures in it are not fenced or evacuated; ` +
        `notifications of its hosts are accepted and held until \`lazarus segment resume ${s.name}\``,
    )
  }
  return 0
}

const resumeSegment: Run = async (ctx, [ref], opts) => {
  const api = ctx.api()
  const { segment } = await resolveSegment(api, ref as string)
  const release = opts['releaseHeld'] !== false
  const got = await api.resumeSegment(segment.uuid, release ? {} : { release_held: false })
  if (ctx.json) printJson(ctx, got.raw)
  else {
    const held = got.data.held_notifications
    const heldText =
      held.count === 0
        ? 'no notifications were held'
        : `${held.count} held notification${held.count === 1 ? '' : 's'} ${held.action === 'ignored' ? 'recorded ignored' : 'released for recovery'}`
    ctx.io.out(`segment ${got.data.segment.name} resumed: host failures in it are recovered automatically again; ${heldText}`)
  }
  return 0
}

export const addSegmentCommands = ({ program, action }: Program): void => {
  const segment = group(program, 'segment', 'failover segments')

  command(segment, 'list', 'list failover segments')
    .option(...FIELDS.recoveryMethod)
    .option(...FIELDS.serviceType)
    .option('--enabled <true|false>', 'only enabled (or disabled) segments')
    .action(
      action(async (ctx, _args, opts) => {
        const query: Record<string, string | undefined> = {
          recovery_method: str(opts, 'recovery-method'),
          service_type: str(opts, 'service-type'),
          enabled: str(opts, 'enabled') === undefined ? undefined : String(boolValue('enabled', str(opts, 'enabled') as string)),
        }
        const { raw, segments } = await listAllSegments(ctx.api(), query)
        if (ctx.json) printJson(ctx, { segments: raw })
        else ctx.io.out(segments.length ? segmentTable(segments) : 'no segments')
        return 0
      }),
    )

  command(segment, 'show', 'show one segment')
    .addArgument(segmentArg())
    .action(
      action(async (ctx, [ref]) => {
        const { segment, raw } = await resolveSegment(ctx.api(), ref as string)
        showSegment(ctx, raw, segment)
        return 0
      }),
    )

  command(segment, 'create', 'create a failover segment', 'Defaults: --recovery-method auto, --service-type COMPUTE, enabled, level 2.')
    .addArgument(argument('name', 'a unique name'))
    .option(...FIELDS.description)
    .option(...FIELDS.recoveryMethod)
    .option(...FIELDS.serviceType)
    .option(...FIELDS.level)
    .option(...FIELDS.stormMaxFailures)
    .option(...FIELDS.stormMaxFailedFraction)
    .option(...FIELDS.stormWindow)
    .option(...FIELDS.capacityPolicy)
    .option(...FIELDS.capacityTarget)
    .option('--enabled <true|false>', 'false creates it disabled (Masakari: its notifications are ignored)')
    .action(
      action(async (ctx, [name], opts) => {
        const body = { recovery_method: 'auto', service_type: 'COMPUTE', ...segmentBody(opts), name }
        const got = await ctx.api().createSegment({ segment: body as SegmentCreateInput['segment'] })
        showSegment(ctx, (got.raw as { segment: unknown }).segment, got.data.segment)
        return 0
      }),
    )

  command(segment, 'update', 'change a segment', 'The api refuses (exit 5) while a notification of the segment is new, running or in error.')
    .addArgument(segmentArg())
    .option('--name <name>', 'a new name')
    .option(...FIELDS.description)
    .option(...FIELDS.recoveryMethod)
    .option(...FIELDS.serviceType)
    .option(...FIELDS.level)
    .option(...FIELDS.stormMaxFailures)
    .option(...FIELDS.stormMaxFailedFraction)
    .option(...FIELDS.stormWindow)
    .option(...FIELDS.capacityPolicy)
    .option(...FIELDS.capacityTarget)
    .option('--enabled <true|false>', 'false disables it (Masakari: notifications ignored; to hold them instead, see segment pause)')
    .action(
      action(async (ctx, [ref], opts) => {
        const body = segmentBody(opts)
        if (Object.keys(body).length === 0) {
          throw usageError(
            'nothing to change: give at least one of --name, --description, --recovery-method, --service-type, --enabled, --level, --storm-max-failures, --storm-max-failed-fraction, --storm-window, --capacity-policy, --capacity-target',
          )
        }
        const api = ctx.api()
        const { segment } = await resolveSegment(api, ref as string)
        const got = await api.updateSegment(segment.uuid, { segment: body as SegmentUpdateInput['segment'] })
        showSegment(ctx, (got.raw as { segment: unknown }).segment, got.data.segment)
        return 0
      }),
    )

  command(segment, 'delete', 'delete a segment (and its hosts)')
    .addArgument(segmentArg())
    .action(
      action(async (ctx, [ref]) => {
        const api = ctx.api()
        const { segment } = await resolveSegment(api, ref as string)
        await api.deleteSegment(segment.uuid)
        if (!ctx.json) ctx.io.out(`segment ${segment.name} (${segment.uuid}) deleted`)
        return 0
      }),
    )

  command(
    segment,
    'pause',
    "pause automatic recovery in a segment (the storm guard's manual switch)",
    'POST /v1/segments/{id}/pause. What runs goes on; what has not started waits: notifications of the\n' +
      "segment's hosts are accepted and held (status new), and the detector stops fencing its hosts from\n" +
      'heartbeats (it raises alerts instead). The storm guard pauses a segment the same way, with a reason\n' +
      'starting "storm guard:". `segment show` prints paused, paused_reason and paused_at.',
  )
    .addArgument(segmentArg())
    .option('--reason <text>', 'why (shown as paused_reason)')
    .action(action(pauseSegment))

  command(
    segment,
    'resume',
    'resume automatic recovery in a paused segment',
    'POST /v1/segments/{id}/resume. Notifications held while paused are released for recovery, or, with\n' +
      '--no-release-held, recorded ignored. The detector resumes fencing from heartbeats in the segment\n' +
      '(a storm-guard pause is lifted the same way).',
  )
    .addArgument(segmentArg())
    .option('--no-release-held', 'record the notifications held while paused as ignored instead of recovering them')
    .action(action(resumeSegment))

  addPlanCommands({ program, action }, segment)
}
