import { HostEnvelope, HostList, type Segment } from '../api-types.js'
import { boolValue, printJson, requireStr, str, type CommandSpec, type Context } from '../cli.js'
import { usageError } from '../errors.js'
import { hostRecord, hostTable } from '../render/views.js'
import { resolveHost, resolveSegment } from '../resolve.js'

const HOST_ARG = { name: 'host', description: 'host name or uuid' }
const SEGMENT_OPT = { type: 'string', value: 'segment', description: 'the segment (name or uuid) the host belongs to' } as const

const hostFields = {
  type: { type: 'string', value: 'type', description: 'host type (letters and digits; Masakari: COMPUTE)' },
  'control-attributes': {
    type: 'string',
    value: 'attrs',
    description: 'how to fence it, e.g. "driver=redfish address=https://bmc/redfish/v1/Systems/1 username=u password=p"',
  },
  reserved: { type: 'string', value: 'true|false', description: 'a spare host that reserved_host recovery moves instances to' },
  'on-maintenance': { type: 'string', value: 'true|false', description: 'failures of a host on maintenance are not recovered' },
} as const

const hostBody = (opts: Record<string, unknown>): Record<string, unknown> => {
  const s = (k: string) => (typeof opts[k] === 'string' ? (opts[k] as string) : undefined)
  const body: Record<string, unknown> = {}
  if (s('name') !== undefined) body['name'] = s('name')
  if (s('type') !== undefined) body['type'] = s('type')
  if (s('control-attributes') !== undefined) body['control_attributes'] = s('control-attributes')
  if (s('reserved') !== undefined) body['reserved'] = boolValue('reserved', s('reserved') as string)
  if (s('on-maintenance') !== undefined) body['on_maintenance'] = boolValue('on-maintenance', s('on-maintenance') as string)
  return body
}

const segmentOf = async (ctx: Context, opts: Record<string, unknown>): Promise<Segment> =>
  (await resolveSegment(ctx.api(), requireStr(opts as never, 'segment', 'the segment name or uuid'))).segment

const showHost = (ctx: Context, raw: unknown, segment: Segment) => {
  if (ctx.json) printJson(ctx, { host: raw })
  else ctx.io.out(hostRecord(HostEnvelope.shape.host.parse(raw), segment))
}

const setMaintenance: CommandSpec['run'] = async (ctx, [mode, segRef, hostRef]) => {
  const api = ctx.api()
  const { segment } = await resolveSegment(api, segRef as string)
  const { host } = await resolveHost(api, segment, hostRef as string)
  const on = mode === 'on'
  const got = await api.put(`/v1/segments/${segment.uuid}/hosts/${host.uuid}`, { host: { on_maintenance: on } }, HostEnvelope)
  if (ctx.json) printJson(ctx, got.raw)
  else
    ctx.io.out(
      on
        ? `host ${host.name} (segment ${segment.name}) is on maintenance: its failures are not recovered`
        : `host ${host.name} (segment ${segment.name}) is back in service: its failures are recovered`,
    )
  return 0
}

export const hostCommands: CommandSpec[] = [
  {
    path: ['host', 'list'],
    summary: 'list the hosts of a segment',
    options: { segment: SEGMENT_OPT, type: hostFields.type, reserved: hostFields.reserved, 'on-maintenance': hostFields['on-maintenance'] },
    async run(ctx, _args, opts) {
      const segment = await segmentOf(ctx, opts)
      const bool = (k: string) => (str(opts, k) === undefined ? undefined : String(boolValue(k, str(opts, k) as string)))
      const got = await ctx.api().get(`/v1/segments/${segment.uuid}/hosts`, HostList, {
        type: str(opts, 'type'),
        reserved: bool('reserved'),
        on_maintenance: bool('on-maintenance'),
        sort_key: 'name',
        sort_dir: 'asc',
      })
      if (ctx.json) printJson(ctx, got.raw)
      else ctx.io.out(got.data.hosts.length ? hostTable(got.data.hosts) : `no hosts in segment ${segment.name}`)
      return 0
    },
  },
  {
    path: ['host', 'show'],
    summary: 'show one host',
    args: [HOST_ARG],
    options: { segment: SEGMENT_OPT },
    async run(ctx, [ref], opts) {
      const segment = await segmentOf(ctx, opts)
      const { raw } = await resolveHost(ctx.api(), segment, ref as string)
      showHost(ctx, raw, segment)
      return 0
    },
  },
  {
    path: ['host', 'create'],
    summary: 'add a compute host to a segment',
    details: 'The name is the host as Nova knows it. Defaults: --type COMPUTE, not reserved, not on maintenance.',
    args: [{ name: 'name', description: "the host's name in Nova" }],
    options: { segment: SEGMENT_OPT, ...hostFields },
    async run(ctx, [name], opts) {
      const segment = await segmentOf(ctx, opts)
      const attrs = requireStr(opts, 'control-attributes', 'how to fence the host, e.g. "driver=redfish address=… username=… password=…"; "" for none')
      const body = { type: 'COMPUTE', ...hostBody(opts), name, control_attributes: attrs }
      const got = await ctx.api().post(`/v1/segments/${segment.uuid}/hosts`, { host: body }, HostEnvelope)
      showHost(ctx, (got.raw as { host: unknown }).host, segment)
      return 0
    },
  },
  {
    path: ['host', 'update'],
    summary: 'change a host',
    details: 'The api refuses (exit 5) while a recovery of the host is running.',
    args: [HOST_ARG],
    options: { segment: SEGMENT_OPT, name: { type: 'string', value: 'name', description: 'a new name' }, ...hostFields },
    async run(ctx, [ref], opts) {
      const body = hostBody(opts)
      if (Object.keys(body).length === 0) {
        throw usageError('nothing to change: give at least one of --name, --type, --control-attributes, --reserved, --on-maintenance')
      }
      const segment = await segmentOf(ctx, opts)
      const api = ctx.api()
      const { host } = await resolveHost(api, segment, ref as string)
      const got = await api.put(`/v1/segments/${segment.uuid}/hosts/${host.uuid}`, { host: body }, HostEnvelope)
      showHost(ctx, (got.raw as { host: unknown }).host, segment)
      return 0
    },
  },
  {
    path: ['host', 'delete'],
    summary: 'remove a host from its segment',
    args: [HOST_ARG],
    options: { segment: SEGMENT_OPT },
    async run(ctx, [ref], opts) {
      const segment = await segmentOf(ctx, opts)
      const api = ctx.api()
      const { host } = await resolveHost(api, segment, ref as string)
      await api.delete(`/v1/segments/${segment.uuid}/hosts/${host.uuid}`)
      if (!ctx.json) ctx.io.out(`host ${host.name} (${host.uuid}) removed from segment ${segment.name}`)
      return 0
    },
  },
  {
    path: ['host', 'maintenance'],
    summary: 'put a host on maintenance (on) or back in service (off)',
    args: [
      { name: 'on|off', description: 'on: failures of the host are not recovered; off: they are again', choices: ['on', 'off'] },
      { name: 'segment', description: 'segment name or uuid' },
      HOST_ARG,
    ],
    run: setMaintenance,
  },
]
