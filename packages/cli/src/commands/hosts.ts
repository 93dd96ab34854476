import { HostBody, type HostCreateInput, type HostUpdateInput, type Segment } from '@lazarus/api-contract'
import { argument, boolValue, command, group, printJson, requireStr, str, type Context, type Opts, type Program, type Run } from '../cli.js'
import { usageError } from '../errors.js'
import { hostRecord, hostTable } from '../render/views.js'
import { resolveHost, resolveSegment } from '../resolve.js'

const hostArg = () => argument('host', 'host name or uuid')

/** `[flags, description]` of the host options. */
const FIELDS = {
  segment: ['--segment <segment>', 'the segment (name or uuid) the host belongs to'],
  type: ['--type <type>', 'host type (letters and digits; Masakari: COMPUTE)'],
  controlAttributes: [
    '--control-attributes <attrs>',
    'how to fence it, e.g. "driver=redfish address=https://bmc/redfish/v1/Systems/1 username=u password_file=/etc/lazarus/bmc/<host>"',
  ],
  reserved: ['--reserved <true|false>', 'a spare host that reserved_host recovery moves instances to'],
  onMaintenance: ['--on-maintenance <true|false>', 'failures of a host on maintenance are not recovered'],
} as const

const hostBody = (opts: Opts): Record<string, unknown> => {
  const s = (k: string) => str(opts, k)
  const body: Record<string, unknown> = {}
  if (s('name') !== undefined) body['name'] = s('name')
  if (s('type') !== undefined) body['type'] = s('type')
  if (s('control-attributes') !== undefined) body['control_attributes'] = s('control-attributes')
  if (s('reserved') !== undefined) body['reserved'] = boolValue('reserved', s('reserved') as string)
  if (s('on-maintenance') !== undefined) body['on_maintenance'] = boolValue('on-maintenance', s('on-maintenance') as string)
  return body
}

const segmentOf = async (ctx: Context, opts: Opts): Promise<Segment> => (await resolveSegment(ctx.api(), requireStr(opts, 'segment', 'the segment name or uuid'))).segment

const showHost = (ctx: Context, raw: unknown, segment: Segment) => {
  if (ctx.json) printJson(ctx, { host: raw })
  else ctx.io.out(hostRecord(HostBody.parse(raw), segment))
}

/** The api's `Lazarus-Warning` (accepted, but see this), on stderr so that --json output stays JSON. */
const warn = (ctx: Context, warning: string | undefined) => {
  if (warning) ctx.io.err(`warning: ${warning}`)
}

const setMaintenance: Run = async (ctx, [mode, segRef, hostRef]) => {
  const api = ctx.api()
  const { segment } = await resolveSegment(api, segRef as string)
  const { host } = await resolveHost(api, segment, hostRef as string)
  const on = mode === 'on'
  const got = await api.updateHost(segment.uuid, host.uuid, { host: { on_maintenance: on } })
  warn(ctx, got.warning)
  if (ctx.json) printJson(ctx, got.raw)
  else
    ctx.io.out(
      on
        ? `host ${host.name} (segment ${segment.name}) is on maintenance: its failures are not recovered`
        : `host ${host.name} (segment ${segment.name}) is back in service: its failures are recovered`,
    )
  return 0
}

export const addHostCommands = ({ program, action }: Program): void => {
  const host = group(program, 'host', 'compute hosts of a segment')

  command(host, 'list', 'list the hosts of a segment')
    .option(...FIELDS.segment)
    .option(...FIELDS.type)
    .option(...FIELDS.reserved)
    .option(...FIELDS.onMaintenance)
    .action(
      action(async (ctx, _args, opts) => {
        const segment = await segmentOf(ctx, opts)
        const bool = (k: string) => (str(opts, k) === undefined ? undefined : String(boolValue(k, str(opts, k) as string)))
        const got = await ctx.api().listHosts(segment.uuid, {
          type: str(opts, 'type'),
          reserved: bool('reserved'),
          on_maintenance: bool('on-maintenance'),
          sort_key: 'name',
          sort_dir: 'asc',
        })
        if (ctx.json) printJson(ctx, { hosts: got.raw })
        else ctx.io.out(got.data.length ? hostTable(got.data) : `no hosts in segment ${segment.name}`)
        return 0
      }),
    )

  command(host, 'show', 'show one host')
    .addArgument(hostArg())
    .option(...FIELDS.segment)
    .action(
      action(async (ctx, [ref], opts) => {
        const segment = await segmentOf(ctx, opts)
        const { raw } = await resolveHost(ctx.api(), segment, ref as string)
        showHost(ctx, raw, segment)
        return 0
      }),
    )

  command(host, 'create', 'add a compute host to a segment', 'The name is the host as Nova knows it. Defaults: --type COMPUTE, not reserved, not on maintenance.')
    .addArgument(argument('name', "the host's name in Nova"))
    .option(...FIELDS.segment)
    .option(...FIELDS.type)
    .option(...FIELDS.controlAttributes)
    .option(...FIELDS.reserved)
    .option(...FIELDS.onMaintenance)
    .action(
      action(async (ctx, [name], opts) => {
        const segment = await segmentOf(ctx, opts)
        const attrs = requireStr(
          opts,
          'control-attributes',
          'how to fence the host, e.g. "driver=redfish address=https://… username=… password_file=/etc/lazarus/bmc/<host>"; "" for none',
        )
        const body = { type: 'COMPUTE', ...hostBody(opts), name, control_attributes: attrs }
        const got = await ctx.api().createHost(segment.uuid, { host: body as HostCreateInput['host'] })
        warn(ctx, got.warning)
        showHost(ctx, (got.raw as { host: unknown }).host, segment)
        return 0
      }),
    )

  command(host, 'update', 'change a host', 'The api refuses (exit 5) while a recovery of the host is running.')
    .addArgument(hostArg())
    .option(...FIELDS.segment)
    .option('--name <name>', 'a new name')
    .option(...FIELDS.type)
    .option(...FIELDS.controlAttributes)
    .option(...FIELDS.reserved)
    .option(...FIELDS.onMaintenance)
    .action(
      action(async (ctx, [ref], opts) => {
        const body = hostBody(opts)
        if (Object.keys(body).length === 0) {
          throw usageError('nothing to change: give at least one of --name, --type, --control-attributes, --reserved, --on-maintenance')
        }
        const segment = await segmentOf(ctx, opts)
        const api = ctx.api()
        const { host } = await resolveHost(api, segment, ref as string)
        const got = await api.updateHost(segment.uuid, host.uuid, { host: body as HostUpdateInput['host'] })
        warn(ctx, got.warning)
        showHost(ctx, (got.raw as { host: unknown }).host, segment)
        return 0
      }),
    )

  command(host, 'delete', 'remove a host from its segment')
    .addArgument(hostArg())
    .option(...FIELDS.segment)
    .action(
      action(async (ctx, [ref], opts) => {
        const segment = await segmentOf(ctx, opts)
        const api = ctx.api()
        const { host } = await resolveHost(api, segment, ref as string)
        warn(ctx, (await api.deleteHost(segment.uuid, host.uuid)).warning)
        if (!ctx.json) ctx.io.out(`host ${host.name} (${host.uuid}) removed from segment ${segment.name}`)
        return 0
      }),
    )

  command(host, 'maintenance', 'put a host on maintenance (on) or back in service (off)')
    .addArgument(argument('on|off', 'on: failures of the host are not recovered; off: they are again', ['on', 'off']))
    .addArgument(argument('segment', 'segment name or uuid'))
    .addArgument(hostArg())
    .action(action(setMaintenance))
}
