import { NotificationStatus, NotificationType, type NotificationCreateInput, type NotificationEvent } from '@lazarus/api-contract'
import { argument, choice, collect, command, flag, group, intValue, printJson, requireStr, str, type Command, type Context, type Opts, type Program } from '../cli.js'
import { ApiResponseError, CliError, Exit, usageError } from '../errors.js'
import { createLiveRenderer } from '../render/live.js'
import { diffSnapshot, initialWatchState, liveBlock, summaryLine, summaryTable } from '../render/progress.js'
import { notificationRecord, notificationTable } from '../render/views.js'
import { fetchSnapshot, followNotification } from '../watch.js'

const idArg = () => argument('id', 'notification uuid')

/** The options of `notification watch`, which `notification create --watch` takes too. */
const watchOptions = (c: Command): Command =>
  c
    .option('--timeout <seconds>', 'give up (exit 8) after this long; 0 waits forever (default 1800)')
    .option('--poll-interval <ms>', 'milliseconds between polls when the api has no event stream (default 1000)')
    .option('--poll', 'poll GET /v1/notifications/{id} instead of following the event stream')

/** The exit code a finished watch reports: 0 finished, 1 failed/error, 3 ignored. */
export const exitForStatus = (status: string): number => {
  if (status === 'finished') return Exit.ok
  if (status === 'ignored') return Exit.ignored
  return Exit.failed
}

/** Follow a recovery to its end, drawing steps and per-instance bars; the exit code says how it ended. */
export const watch = async (ctx: Context, id: string, opts: Opts): Promise<number> => {
  const s = (k: string) => str(opts, k)
  const timeoutS = s('timeout') === undefined ? 1800 : intValue('timeout', s('timeout') as string, 0, 7 * 24 * 3600)
  const pollMs = s('poll-interval') === undefined ? 1000 : intValue('poll-interval', s('poll-interval') as string, 50, 600_000)
  const started = Date.now()
  const live = createLiveRenderer(ctx.io)
  let state = initialWatchState()
  let last: NotificationEvent | undefined

  const result = await followNotification({
    api: ctx.api(),
    id,
    timeoutMs: timeoutS * 1000,
    pollMs,
    poll: flag(opts, 'poll'),
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

export const addNotificationCommands = ({ program, action }: Program): void => {
  const notification = group(program, 'notification', 'failure notifications and their recoveries')

  command(notification, 'list', 'list notifications, newest first')
    .option('--status <status>', `only this status: ${NotificationStatus.options.join(', ')}`)
    .option('--type <type>', `only this type: ${NotificationType.options.join(', ')}`)
    .option('--host-uuid <uuid>', 'only notifications of this source host')
    .option('--since <time>', 'only those generated since this ISO time')
    .option('--held', 'only those held while their segment is paused (by an operator or the storm guard)')
    .option('--segment <uuid>', 'only notifications of this failover segment')
    .option('--limit <n>', 'at most n (default: the api maximum)')
    .action(
      action(async (ctx, _args, opts) => {
        const status = str(opts, 'status')
        const type = str(opts, 'type')
        const got = await ctx.api().listNotifications({
          status: status === undefined ? undefined : choice('status', status, NotificationStatus.options),
          type: type === undefined ? undefined : choice('type', type, NotificationType.options),
          source_host_uuid: str(opts, 'host-uuid'),
          'generated-since': str(opts, 'since'),
          held: flag(opts, 'held') ? 'true' : undefined,
          failover_segment_uuid: str(opts, 'segment'),
          limit: str(opts, 'limit') === undefined ? undefined : intValue('limit', str(opts, 'limit') as string, 1, 1_000_000),
        })
        if (ctx.json) printJson(ctx, { notifications: got.raw })
        else ctx.io.out(got.data.length ? notificationTable(got.data) : 'no notifications')
        return 0
      }),
    )

  command(notification, 'show', 'show a notification, its recovery workflow and its instances')
    .addArgument(idArg())
    .action(
      action(async (ctx, [id]) => {
        const { snap, raw } = await fetchSnapshot(ctx.api(), id as string)
        if (ctx.json) printJson(ctx, raw)
        else ctx.io.out(notificationRecord(snap.notification, snap.vmoves))
        return 0
      }),
    )

  watchOptions(
    command(
      notification,
      'create',
      'report a failure, as a monitor would',
      'A COMPUTE_HOST notification without --payload/--set reports the host down with a known power state\n' +
        '(event=STOPPED host_status=NORMAL cluster_status=OFFLINE). --watch follows the recovery like `notification watch`.',
    )
      .option('--type <type>', `${NotificationType.options.join(', ')} (default COMPUTE_HOST)`)
      .option('--host <name>', 'the failed host, as Nova names it (required)')
      .option('--payload <json>', 'the payload as a JSON object')
      .option('--set <key=value>', 'one payload field (repeatable)', collect)
      .option('--generated-time <time>', 'when the failure was seen (default now)')
      .option('--watch', 'follow the recovery to its end (exit codes as notification watch)'),
  ).action(
    action(async (ctx, _args, opts) => {
      const type = choice('type', str(opts, 'type') ?? 'COMPUTE_HOST', NotificationType.options)
      const hostname = requireStr(opts, 'host', 'the failed host as Nova names it')
      const sets = Array.isArray(opts['set']) ? (opts['set'] as string[]) : []
      const payload = buildPayload(type, str(opts, 'payload'), sets)
      const generated = str(opts, 'generated-time') ?? new Date().toISOString()
      if (Number.isNaN(Date.parse(generated))) throw usageError(`--generated-time is not a time: "${generated}" (use ISO 8601, e.g. 2025-01-31T12:00:00Z)`)
      const got = await ctx
        .api()
        .createNotification({ notification: { type, hostname, generated_time: generated, payload: payload as NotificationCreateInput['notification']['payload'] } })
      const n = got.data.notification
      if (flag(opts, 'watch')) {
        if (!ctx.json) ctx.io.out(`notification ${n.notification_uuid} accepted (${n.status})`)
        return watch(ctx, n.notification_uuid, opts)
      }
      if (ctx.json) printJson(ctx, got.raw)
      else ctx.io.out(notificationRecord(n))
      return 0
    }),
  )

  command(
    notification,
    'retry',
    'run a failed recovery again',
    'Asks the api to re-run the recovery of a failed or errored notification (POST /v1/notifications/{id}/retry)\n' +
      'and prints what the retry will do: a host on maintenance only because this recovery put it there (a failed\n' +
      'fence) is fenced again with its current control attributes, then evacuated. Refused (exit 5, with the reason)\n' +
      'when it would be ignored: the host on maintenance set by an operator, or its segment disabled.\n' +
      'An api without retry (404/405/501): the command fails (exit 1) and says so.',
  )
    .addArgument(idArg())
    .action(
      action(async (ctx, [id]) => {
        const api = ctx.api()
        const { snap } = await fetchSnapshot(api, id as string) // exit 4 for an unknown notification
        const uuid = snap.notification.notification_uuid
        try {
          const got = await api.retryNotification(uuid)
          if (ctx.json) printJson(ctx, got.raw)
          else {
            // The api's message says what the retry will do (or that it is held while the segment is paused).
            const plan = got.data.notification.message
            ctx.io.out(`notification ${uuid} queued again (${got.data.notification.status})${plan ? `: ${plan}` : ''}`)
            ctx.io.out(`follow it with \`lazarus notification watch ${uuid}\``)
          }
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
      }),
    )

  command(
    notification,
    'release',
    'release one held notification: its recovery runs while the segment stays paused',
    "POST /v1/notifications/{id}/release. A notification of a paused segment (an operator's pause or the storm\n" +
      "guard's) is accepted and held; this publishes that one, so its host is fenced and evacuated, and leaves the\n" +
      'others held. `lazarus notification list --held` lists them; `lazarus segment resume` releases them all.\n' +
      'Refused (exit 5) when the notification is not held.',
  )
    .addArgument(idArg())
    .action(
      action(async (ctx, [id]) => {
        const got = await ctx.api().releaseNotification(id as string)
        if (ctx.json) printJson(ctx, got.raw)
        else {
          const n = got.data.notification
          ctx.io.out(`notification ${n.notification_uuid} released (${n.status}): the recovery of host ${n.hostname} runs; its segment stays paused`)
          ctx.io.out(`follow it with \`lazarus notification watch ${n.notification_uuid}\``)
        }
        return 0
      }),
    )

  watchOptions(
    command(
      notification,
      'watch',
      'follow a recovery live until it ends',
      'Shows each workflow step as it happens and a progress bar per instance, then a summary table.\n' +
        'Uses the event stream GET /v1/notifications/{id}/events, or polls when the api has none.\n' +
        'Exit 0 finished, 1 failed or error, 3 ignored, 8 timed out (the recovery may still be running).\n' +
        'With --json, prints only the final {notification, vmoves}.',
    ).addArgument(idArg()),
  ).action(action(async (ctx, [id], opts) => watch(ctx, id as string, opts)))
}

export { Exit }
