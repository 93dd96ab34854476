import { AlertBody } from '@lazarus/api-contract'
import { choice, command, flag, group, intValue, printJson, str, type Program } from '../cli.js'
import { usageError } from '../errors.js'
import { alertTable } from '../render/views.js'

const KINDS = AlertBody.shape.kind.options

export const addAlertCommands = ({ program, action }: Program): void => {
  const alert = group(program, 'alert', 'alerts the services raised for operators (storms, isolated hosts, failed fences...)')

  command(
    alert,
    'list',
    'list alerts, newest first',
    'GET /v1/alerts. An alert is active until its condition ends (the segment resumed, the host heard\n' +
      'again, a later recovery of the host finished); then `cleared` says when.',
  )
    .option('--segment <uuid>', 'only alerts of this segment')
    .option('--kind <kind>', `only this kind: ${KINDS.join(', ')}`)
    .option('--active', 'only alerts not cleared yet')
    .option('--cleared', 'only cleared alerts')
    .option('--limit <n>', 'at most n (default: the api maximum)')
    .action(
      action(async (ctx, _args, opts) => {
        const kind = str(opts, 'kind')
        if (flag(opts, 'active') && flag(opts, 'cleared')) throw usageError('--active and --cleared exclude each other')
        const got = await ctx.api().listAlerts({
          segment_id: str(opts, 'segment'),
          kind: kind === undefined ? undefined : choice('kind', kind, KINDS),
          active: flag(opts, 'active') ? 'true' : flag(opts, 'cleared') ? 'false' : undefined,
          limit: str(opts, 'limit') === undefined ? undefined : intValue('limit', str(opts, 'limit') as string, 1, 1_000_000),
        })
        if (ctx.json) printJson(ctx, { alerts: got.raw })
        else ctx.io.out(got.data.length ? alertTable(got.data) : 'no alerts')
        return 0
      }),
    )
}
