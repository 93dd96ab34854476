import { RECOVERY_METHODS, SegmentEnvelope } from '../api-types.js'
import { boolValue, choice, intValue, printJson, str, type CommandSpec, type Context } from '../cli.js'
import { usageError } from '../errors.js'
import { segmentRecord, segmentTable } from '../render/views.js'
import { listAllSegments, resolveSegment } from '../resolve.js'

const SEGMENT_ARG = { name: 'segment', description: 'segment name or uuid' }

const segmentFields = {
  description: { type: 'string', value: 'text', description: 'free text' },
  'recovery-method': { type: 'string', value: 'method', description: `how instances are recovered: ${RECOVERY_METHODS.join(', ')}` },
  'service-type': { type: 'string', value: 'type', description: 'the service type the segment protects (Masakari: COMPUTE)' },
  level: { type: 'string', value: '1|2|3', description: 'quick_evacuate_level: 1 force-down only, 2 power off + confirm + force-down, 3 power off + wait for Nova' },
} as const

const showSegment = (ctx: Context, raw: unknown, data: Parameters<typeof segmentRecord>[0]) => {
  if (ctx.json) printJson(ctx, { segment: raw })
  else ctx.io.out(segmentRecord(data))
}

/** The fields of `segment create|update` from flags, in the api's names. */
const segmentBody = (opts: Record<string, unknown>): Record<string, unknown> => {
  const s = (k: string) => (typeof opts[k] === 'string' ? (opts[k] as string) : undefined)
  const body: Record<string, unknown> = {}
  if (s('name') !== undefined) body['name'] = s('name')
  if (s('description') !== undefined) body['description'] = s('description') === '' ? null : s('description')
  if (s('recovery-method') !== undefined) body['recovery_method'] = choice('recovery-method', s('recovery-method') as string, RECOVERY_METHODS)
  if (s('service-type') !== undefined) body['service_type'] = s('service-type')
  if (s('enabled') !== undefined) body['enabled'] = boolValue('enabled', s('enabled') as string)
  if (s('level') !== undefined) body['quick_evacuate_level'] = intValue('level', s('level') as string, 1, 3)
  return body
}

const setEnabled = (enabled: boolean): CommandSpec['run'] => async (ctx, [ref]) => {
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

export const segmentCommands: CommandSpec[] = [
  {
    path: ['segment', 'list'],
    summary: 'list failover segments',
    options: {
      'recovery-method': segmentFields['recovery-method'],
      'service-type': segmentFields['service-type'],
      enabled: { type: 'string', value: 'true|false', description: 'only enabled (or paused) segments' },
    },
    async run(ctx, _args, opts) {
      const query: Record<string, string | undefined> = {
        recovery_method: str(opts, 'recovery-method'),
        service_type: str(opts, 'service-type'),
        enabled: str(opts, 'enabled') === undefined ? undefined : String(boolValue('enabled', str(opts, 'enabled') as string)),
      }
      const { raw, segments } = await listAllSegments(ctx.api(), query)
      if (ctx.json) printJson(ctx, { segments: raw })
      else ctx.io.out(segments.length ? segmentTable(segments) : 'no segments')
      return 0
    },
  },
  {
    path: ['segment', 'show'],
    summary: 'show one segment',
    args: [SEGMENT_ARG],
    async run(ctx, [ref]) {
      const { segment, raw } = await resolveSegment(ctx.api(), ref as string)
      showSegment(ctx, raw, segment)
      return 0
    },
  },
  {
    path: ['segment', 'create'],
    summary: 'create a failover segment',
    details: 'Defaults: --recovery-method auto, --service-type COMPUTE, enabled, level 2.',
    args: [{ name: 'name', description: 'a unique name' }],
    options: { ...segmentFields, enabled: { type: 'string', value: 'true|false', description: 'false creates it paused' } },
    async run(ctx, [name], opts) {
      const body = { recovery_method: 'auto', service_type: 'COMPUTE', ...segmentBody(opts), name }
      const got = await ctx.api().post('/v1/segments', { segment: body }, SegmentEnvelope)
      showSegment(ctx, (got.raw as { segment: unknown }).segment, got.data.segment)
      return 0
    },
  },
  {
    path: ['segment', 'update'],
    summary: 'change a segment',
    details: 'The api refuses (exit 5) while a notification of the segment is new, running or in error.',
    args: [SEGMENT_ARG],
    options: {
      name: { type: 'string', value: 'name', description: 'a new name' },
      ...segmentFields,
      enabled: { type: 'string', value: 'true|false', description: 'false pauses automatic recovery (see segment pause)' },
    },
    async run(ctx, [ref], opts) {
      const body = segmentBody(opts)
      if (Object.keys(body).length === 0) {
        throw usageError('nothing to change: give at least one of --name, --description, --recovery-method, --service-type, --enabled, --level')
      }
      const api = ctx.api()
      const { segment } = await resolveSegment(api, ref as string)
      const got = await api.put(`/v1/segments/${segment.uuid}`, { segment: body }, SegmentEnvelope)
      showSegment(ctx, (got.raw as { segment: unknown }).segment, got.data.segment)
      return 0
    },
  },
  {
    path: ['segment', 'delete'],
    summary: 'delete a segment (and its hosts)',
    args: [SEGMENT_ARG],
    async run(ctx, [ref]) {
      const api = ctx.api()
      const { segment } = await resolveSegment(api, ref as string)
      await api.delete(`/v1/segments/${segment.uuid}`)
      if (!ctx.json) ctx.io.out(`segment ${segment.name} (${segment.uuid}) deleted`)
      return 0
    },
  },
  {
    path: ['segment', 'pause'],
    summary: "pause automatic recovery in a segment (the storm guard's manual switch)",
    details:
      "Sets the segment's `enabled` flag to false (Masakari microversion 1.2): notifications of its hosts are then\n" +
      'not acted on. The api has no dedicated pause endpoint yet, so like any segment update this is refused\n' +
      '(exit 5) while a notification of the segment is new, running or in error.',
    args: [SEGMENT_ARG],
    run: setEnabled(false),
  },
  {
    path: ['segment', 'resume'],
    summary: 'resume automatic recovery in a paused segment',
    details: "Sets the segment's `enabled` flag back to true (Masakari microversion 1.2).",
    args: [SEGMENT_ARG],
    run: setEnabled(true),
  },
]
