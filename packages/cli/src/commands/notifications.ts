import { NOTIFICATION_STATUSES, NOTIFICATION_TYPES, NotificationEnvelope, NotificationList, type NotificationSnapshot } from '../api-types.js'
import { choice, intValue, printJson, requireStr, str, type CommandSpec, type Context, type OptionSpec } from '../cli.js'
import { ApiResponseError, CliError, Exit, usageError } from '../errors.js'
import { createLiveRenderer } from '../render/live.js'
import { diffSnapshot, initialWatchState, liveBlock, summaryLine, summaryTable } from '../render/progress.js'
import { notificationRecord, notificationTable } from '../render/views.js'
import { fetchSnapshot, followNotification } from '../watch.js'

const ID_ARG = { name: 'id', description: 'notification uuid' }

const WATCH_OPTIONS: Record<string, OptionSpec> = {
  timeout: { type: 'string', value: 'seconds', description: 'give up (exit 8) after this long; 0 waits forever (default 1800)' },
  'poll-interval': { type: 'string', value: 'ms', description: 'milliseconds between polls when the api has no event stream (default 1000)' },
  poll: { type: 'boolean', description: 'poll GET /v1/notifications/{id} instead of following the event stream' },
}

/** The exit code a finished watch reports: 0 finished, 1 failed/error, 3 ignored. */
export const exitForStatus = (status: string): number => {
  if (status === 'finished') return Exit.ok
  if (status === 'ignored') return Exit.ignored
  return Exit.failed
}

/** Follow a recovery to its end, drawing steps and per-instance bars; the exit code says how it ended. */
export const watch = async (ctx: Context, id: string, opts: Record<string, unknown>): Promise<number> => {
  const s = (k: string) => (typeof opts[k] === 'string' ? (opts[k] as string) : undefined)
  const timeoutS = s('timeout') === undefined ? 1800 : intValue('timeout', s('timeout') as string, 0, 7 * 24 * 3600)
  const pollMs = s('poll-interval') === undefined ? 1000 : intValue('poll-interval', s('poll-interval') as string, 50, 600_000)
  const started = Date.now()
  const live = createLiveRenderer(ctx.io)
  let state = initialWatchState()
  let last: NotificationSnapshot | undefined

  const result = await followNotification({
    api: ctx.api(),
    id,
    timeoutMs: timeoutS * 1000,
    pollMs,
    poll: opts['poll'] === true,
    onNote: (line) => ctx.io.err(`note: ${line}`),
    onSnapshot: (snap) => {
      last = snap
      if (ctx.json) return
      if (state.status === undefined) {
        const n = snap.notification
        live.log([`following notification ${n.notification_uuid} (${n.type}${n.payload ? ` ${Object.values(n.payload).join(' ')}` : ''})`])
      }
      const d = diffSnapshot(state, snap, Date.now() - started)
      state = d.state
      live.log(d.lines)
      live.block(liveBlock(snap, Date.now() - started))
    },
  }).catch((err: unknown) => {
    live.done()
    if (err instanceof CliError && err.exitCode === Exit.timeout && ctx.json && last) printJson(ctx, last)
    throw err
  })
  live.done()

  const final = result.final ?? last
  const elapsed = Date.now() - started
  if (ctx.json) {
    printJson(ctx, final)
  } else {
    ctx.io.out('')
    if (final.vmoves.length > 0) ctx.io.out(summaryTable(final.vmoves))
    else if (final.notification.type === 'COMPUTE_HOST') ctx.io.out('no instances were moved')
    ctx.io.out('')
    ctx.io.out(summaryLine(final, elapsed))
  }
  return exitForStatus(final.notification.status)
}

/** `--payload '{"event":"STOPPED"}'` and `--set key=value`, merged; defaults for a host failure. */
export const buildPayload = (type: string, payloadJson: string | undefined, sets: readonly string[]): Record<string, string> => {
  let payload: Record<string, string> = {}
  if (payloadJson !== undefined) {
    let parsed: unknown
    try {
      parsed = JSON.parse(payloadJson)
    } catch (err) {
      throw usageError(`--payload is not JSON: ${(err as Error).message}`)
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw usageError('--payload must be a JSON object, e.g. \'{"event":"STOPPED"}\'')
    payload = Object.fromEntries(Object.entries(parsed as Record<string, unknown>).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]))
  }
  for (const kv of sets) {
    const i = kv.indexOf('=')
    if (i <= 0) throw usageError(`--set takes key=value (got "${kv}")`)
    payload[kv.slice(0, i)] = kv.slice(i + 1)
  }
  if (type === 'COMPUTE_HOST' && payloadJson === undefined && sets.length === 0) {
    // What a host monitor sends when a host went down and its power state is known.
    return { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' }
  }
  if (Object.keys(payload).length === 0) {
    throw usageError(
      type === 'VM'
        ? 'a VM notification needs a payload: --set instance_uuid=… --set vir_domain_event=STOPPED_FAILED --set event=LIFECYCLE'
        : 'a PROCESS notification needs a payload: --set process_name=nova-compute --set event=STOPPED',
    )
  }
  return payload
}

export const notificationCommands: CommandSpec[] = [
  {
    path: ['notification', 'list'],
    summary: 'list notifications, newest first',
    options: {
      status: { type: 'string', value: 'status', description: `only this status: ${NOTIFICATION_STATUSES.join(', ')}` },
      type: { type: 'string', value: 'type', description: `only this type: ${NOTIFICATION_TYPES.join(', ')}` },
      'host-uuid': { type: 'string', value: 'uuid', description: 'only notifications of this source host' },
      since: { type: 'string', value: 'time', description: 'only those generated since this ISO time' },
      limit: { type: 'string', value: 'n', description: 'at most n (default: the api maximum)' },
    },
    async run(ctx, _args, opts) {
      const status = str(opts, 'status')
      const type = str(opts, 'type')
      const got = await ctx.api().get('/v1/notifications', NotificationList, {
        status: status === undefined ? undefined : choice('status', status, NOTIFICATION_STATUSES),
        type: type === undefined ? undefined : choice('type', type, NOTIFICATION_TYPES),
        source_host_uuid: str(opts, 'host-uuid'),
        'generated-since': str(opts, 'since'),
        limit: str(opts, 'limit') === undefined ? undefined : intValue('limit', str(opts, 'limit') as string, 1, 1_000_000),
      })
      if (ctx.json) printJson(ctx, got.raw)
      else ctx.io.out(got.data.notifications.length ? notificationTable(got.data.notifications) : 'no notifications')
      return 0
    },
  },
  {
    path: ['notification', 'show'],
    summary: 'show a notification, its recovery workflow and its instances',
    args: [ID_ARG],
    async run(ctx, [id]) {
      const { snap, raw } = await fetchSnapshot(ctx.api(), id as string)
      if (ctx.json) printJson(ctx, raw)
      else ctx.io.out(notificationRecord(snap.notification, snap.vmoves))
      return 0
    },
  },
  {
    path: ['notification', 'create'],
    summary: 'report a failure, as a monitor would',
    details:
      'A COMPUTE_HOST notification without --payload/--set reports the host down with a known power state\n' +
      '(event=STOPPED host_status=NORMAL cluster_status=OFFLINE). --watch follows the recovery like `notification watch`.',
    options: {
      type: { type: 'string', value: 'type', description: `${NOTIFICATION_TYPES.join(', ')} (default COMPUTE_HOST)` },
      host: { type: 'string', value: 'name', description: 'the failed host, as Nova names it (required)' },
      payload: { type: 'string', value: 'json', description: 'the payload as a JSON object' },
      set: { type: 'string', multiple: true, value: 'key=value', description: 'one payload field (repeatable)' },
      'generated-time': { type: 'string', value: 'time', description: 'when the failure was seen (default now)' },
      watch: { type: 'boolean', description: 'follow the recovery to its end (exit codes as notification watch)' },
      ...WATCH_OPTIONS,
    },
    async run(ctx, _args, opts) {
      const type = choice('type', str(opts, 'type') ?? 'COMPUTE_HOST', NOTIFICATION_TYPES)
      const hostname = requireStr(opts, 'host', 'the failed host as Nova names it')
      const sets = Array.isArray(opts['set']) ? (opts['set'] as string[]) : []
      const payload = buildPayload(type, str(opts, 'payload'), sets)
      const generated = str(opts, 'generated-time') ?? new Date().toISOString()
      if (Number.isNaN(Date.parse(generated))) throw usageError(`--generated-time is not a time: "${generated}" (use ISO 8601, e.g. 2025-01-31T12:00:00Z)`)
      const got = await ctx.api().post('/v1/notifications', { notification: { type, hostname, generated_time: generated, payload } }, NotificationEnvelope)
      const n = got.data.notification
      if (opts['watch'] === true) {
        if (!ctx.json) ctx.io.out(`notification ${n.notification_uuid} accepted (${n.status})`)
        return watch(ctx, n.notification_uuid, opts)
      }
      if (ctx.json) printJson(ctx, got.raw)
      else ctx.io.out(notificationRecord(n))
      return 0
    },
  },
  {
    path: ['notification', 'retry'],
    summary: 'run a failed recovery again',
    details:
      'Asks the api to re-run the recovery of a failed or errored notification (POST /v1/notifications/{id}/retry).\n' +
      'The api does not offer this yet: the command then fails (exit 1) and says so.',
    args: [ID_ARG],
    async run(ctx, [id]) {
      const api = ctx.api()
      const { snap } = await fetchSnapshot(api, id as string) // exit 4 for an unknown notification
      const uuid = snap.notification.notification_uuid
      try {
        const got = await api.post(`/v1/notifications/${uuid}/retry`, {}, NotificationEnvelope)
        if (ctx.json) printJson(ctx, got.raw)
        else ctx.io.out(`notification ${uuid} queued again (${got.data.notification.status}); follow it with \`lazarus notification watch ${uuid}\``)
        return 0
      } catch (err) {
        if (err instanceof ApiResponseError && (err.status === 404 || err.status === 405 || err.status === 501)) {
          throw new CliError(
            `the api at ${api.url} cannot retry notifications yet (POST /v1/notifications/${uuid}/retry answered ${err.status}); ` +
              `notification ${uuid} is ${snap.notification.status} and was not retried — report the failure again with \`lazarus notification create\` once its cause is fixed`,
            Exit.failed,
          )
        }
        throw err
      }
    },
  },
  {
    path: ['notification', 'watch'],
    summary: 'follow a recovery live until it ends',
    details:
      'Shows each workflow step as it happens and a progress bar per instance, then a summary table.\n' +
      'Uses the event stream GET /v1/notifications/{id}/events, or polls when the api has none.\n' +
      'Exit 0 finished, 1 failed or error, 3 ignored, 8 timed out (the recovery may still be running).\n' +
      'With --json, prints only the final {notification, vmoves}.',
    args: [ID_ARG],
    options: WATCH_OPTIONS,
    async run(ctx, [id], opts) {
      return watch(ctx, id as string, opts)
    },
  },
]

export { Exit }
