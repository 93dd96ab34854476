import { RECOVERY_METHODS, SegmentEnvelope } from '../api-types.js'
import { argument, boolValue, choice, command, group, intValue, printJson, str, type Context, type Opts, type Program, type Run } from '../cli.js'
import { usageError } from '../errors.js'
import { segmentRecord, segmentTable } from '../render/views.js'
import { listAllSegments, resolveSegment } from '../resolve.js'

const segmentArg = () => argument('segment', 'segment name or uuid')

/** `[flags, description]` of the options `segment create|update` share. */
const FIELDS = {
  description: ['--description <text>', 'free text'],
  recoveryMethod: ['--recovery-method <method>', `how instances are recovered: ${RECOVERY_METHODS.join(', ')}`],
  serviceType: ['--service-type <type>', 'the service type the segment protects (Masakari: COMPUTE)'],
  level: ['--level <1|2|3>', 'quick_evacuate_level: 1 force-down only, 2 power off + confirm + force-down, 3 power off + wait for Nova'],
} as const

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
  if (s('recovery-method') !== undefined) body['recovery_method'] = choice('recovery-method', s('recovery-method') as string, RECOVERY_METHODS)
  if (s('service-type') !== undefined) body['service_type'] = s('service-type')
  if (s('enabled') !== undefined) body['enabled'] = boolValue('enabled', s('enabled') as string)
  if (s('level') !== undefined) body['quick_evacuate_level'] = intValue('level', s('level') as string, 1, 3)
  return body
}

const setEnabled = (enabled: boolean): Run => async (ctx, [ref]) => {
  const api = ctx.api()
  const { segment } = await resolveSegment(api, ref as string)
  const got = await api.put(`/v1/segments/${segment.uuid}`, { segment: { enabled } }, SegmentEnvelope)
  if (ctx.json) printJson(ctx, got.raw)
  else
    ctx.io.out(
      enabled
        ? `segment ${segment.name} resumed: host failures in it are recovered automatically again`
        : `segment ${segment.name} paused: host failures in it are not fenced or evacuated until \`lazarus segment resume ${segment.name}\``,
    )
  return 0
}

export const addSegmentCommands = ({ program, action }: Program): void => {
  const segment = group(program, 'segment', 'failover segments')

  command(segment, 'list', 'list failover segments')
    .option(...FIELDS.recoveryMethod)
    .option(...FIELDS.serviceType)
    .option('--enabled <true|false>', 'only enabled (or paused) segments')
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
    .option('--enabled <true|false>', 'false creates it paused')
    .action(
      action(async (ctx, [name], opts) => {
        const body = { recovery_method: 'auto', service_type: 'COMPUTE', ...segmentBody(opts), name }
        const got = await ctx.api().post('/v1/segments', { segment: body }, SegmentEnvelope)
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
    .option('--enabled <true|false>', 'false pauses automatic recovery (see segment pause)')
    .action(
      action(async (ctx, [ref], opts) => {
        const body = segmentBody(opts)
        if (Object.keys(body).length === 0) {
          throw usageError('nothing to change: give at least one of --name, --description, --recovery-method, --service-type, --enabled, --level')
        }
        const api = ctx.api()
        const { segment } = await resolveSegment(api, ref as string)
        const got = await api.put(`/v1/segments/${segment.uuid}`, { segment: body }, SegmentEnvelope)
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
        await api.delete(`/v1/segments/${segment.uuid}`)
        if (!ctx.json) ctx.io.out(`segment ${segment.name} (${segment.uuid}) deleted`)
        return 0
      }),
    )

  command(
    segment,
    'pause',
    "pause automatic recovery in a segment (the storm guard's manual switch)",
    "Sets the segment's `enabled` flag to false (Masakari microversion 1.2): notifications of its hosts are then\n" +
      'not acted on. The api has no dedicated pause endpoint yet, so like any segment update this is refused\n' +
      '(exit 5) while a notification of the segment is new, running or in error.',
  )
    .addArgument(segmentArg())
    .action(action(setEnabled(false)))

  command(segment, 'resume', 'resume automatic recovery in a paused segment', "Sets the segment's `enabled` flag back to true (Masakari microversion 1.2).")
    .addArgument(segmentArg())
    .action(action(setEnabled(true)))
}
