import type { EndpointInterface } from '@lazarus/openstack'
import type { ApiClient, HostCreateInput, SegmentCreateInput } from '@lazarus/api-contract'
import { choice, collect, command, flag, group, intValue, printJson, str, type Opts, type Program, type Run } from '../cli.js'
import { CliError, Exit, usageError } from '../errors.js'
import { planImport, type FencingGap, type ImportAction, type ImportPlan, type LazarusState, type Level } from '../masakari/plan.js'
import type { MasakariSource } from '../masakari/source.js'
import { renderTable } from '../render/table.js'
import { listAllSegments } from '../resolve.js'
import { errorText } from '@lazarus/runtime'

/**
 * `lazarus import masakari`: Masakari's segments and hosts into Lazarus, by name, adding what
 * is missing and never changing what Lazarus has (masakari/plan.ts holds the rule).
 */

const PAGE = 1000

/** Every segment of Lazarus with its hosts. */
const readLazarus = async (api: ApiClient): Promise<LazarusState> => {
  const { segments } = await listAllSegments(api)
  const state: LazarusState = []
  for (const segment of segments) {
    const hosts = (await api.listAllHosts(segment.uuid, { limit: PAGE, sort_key: 'name', sort_dir: 'asc' })).data
    state.push({ segment, hosts })
  }
  return state
}

const masakariSource = (opts: Opts, env: Record<string, string | undefined>): MasakariSource => {
  const pick = (flagName: string, envName: string, fallback?: string): string | undefined => str(opts, flagName) || env[envName] || fallback
  const need = (flagName: string, envName: string): string => {
    const v = pick(flagName, envName)
    if (!v) throw usageError(`--${flagName} (or ${envName}) is required to read Masakari`)
    return v
  }
  const iface = pick('os-interface', 'OS_INTERFACE', 'public') as string
  return {
    credentials: {
      authUrl: need('os-auth-url', 'OS_AUTH_URL'),
      username: need('os-username', 'OS_USERNAME'),
      password: need('os-password', 'OS_PASSWORD'),
      projectName: need('os-project-name', 'OS_PROJECT_NAME'),
      userDomainName: pick('os-user-domain-name', 'OS_USER_DOMAIN_NAME', 'Default') as string,
      projectDomainName: pick('os-project-domain-name', 'OS_PROJECT_DOMAIN_NAME', 'Default') as string,
    },
    region: pick('os-region-name', 'OS_REGION_NAME'),
    interface: choice<EndpointInterface>('os-interface', iface.replace(/URL$/, ''), ['public', 'internal', 'admin']),
    url: str(opts, 'masakari-url'),
    timeoutMs: 30_000,
  }
}

const describeAction = (a: ImportAction): string =>
  a.kind === 'create_segment'
    ? `segment ${a.segment} (${a.body.recovery_method}, ${a.body.service_type}${a.body.enabled ? '' : ', disabled'}, level ${a.body.quick_evacuate_level ?? '2 (default)'})`
    : `host ${a.host} in segment ${a.segment} (${[a.body.type ?? 'no type', a.body.reserved ? 'reserved' : '', a.body.on_maintenance ? 'on maintenance' : ''].filter(Boolean).join(', ')})`

const fencingReport = (gaps: FencingGap[]): string[] => {
  if (gaps.length === 0) return []
  const refused = gaps.filter((g) => g.everyLevel)
  const example = gaps[0]!
  return [
    '',
    `${count(gaps.length, 'host')} need${gaps.length === 1 ? 's' : ''} fencing attributes before level 2 can protect ${gaps.length === 1 ? 'it' : 'them'}:`,
    renderTable(
      ['HOST', 'SEGMENT', 'LEVEL', 'CONTROL ATTRIBUTES', 'WHY'],
      gaps.map((g) => [g.host, g.segment, String(g.level), g.controlAttributes ?? '', g.reason]),
    ),
    'At level 2 or 3 a failure of such a host is not recovered (the fence fails and nothing is evacuated); level 1',
    'forces it down in Nova without powering it off.',
    ...(refused.length > 0
      ? [
          `The fencer refuses free-text attributes at every level: ${refused.map((g) => g.host).join(', ')} ${refused.length === 1 ? 'is' : 'are'} not recovered`,
          'at all until they are replaced (import with --free-text-attributes driver=none, or lazarus host update).',
        ]
      : []),
    'Give each host its BMC, e.g.:',
    `  lazarus host update ${example.host} --segment ${example.segment} --control-attributes "driver=redfish address=https://BMC/redfish/v1/Systems/1 username=USER password_file=/etc/lazarus/BMC"`,
    'or keep its segment at level 1 until then: lazarus segment update SEGMENT --level 1',
  ]
}

interface Outcome {
  action: ImportAction
  ok: boolean
  uuid?: string
  error?: string
}

/** Carry the actions out in order; a host whose segment could not be created is skipped. */
const apply = async (api: ApiClient, plan: ImportPlan, lazarus: LazarusState): Promise<Outcome[]> => {
  const segmentIds = new Map(lazarus.map((s) => [s.segment.name, s.segment.uuid]))
  const outcomes: Outcome[] = []
  for (const action of plan.actions) {
    try {
      if (action.kind === 'create_segment') {
        const got = await api.createSegment({ segment: action.body as SegmentCreateInput['segment'] })
        segmentIds.set(action.segment, got.data.segment.uuid)
        outcomes.push({ action, ok: true, uuid: got.data.segment.uuid })
      } else {
        const segmentId = segmentIds.get(action.segment)
        if (!segmentId) {
          outcomes.push({ action, ok: false, error: `segment ${action.segment} was not created` })
          continue
        }
        const got = await api.createHost(segmentId, { host: action.body as HostCreateInput['host'] })
        outcomes.push({ action, ok: true, uuid: got.data.host.uuid })
      }
    } catch (err) {
      // Authentication and reachability stop the import: every later call would fail the same way.
      if (err instanceof CliError && (err.exitCode === Exit.auth || err.exitCode === Exit.unreachable)) throw err
      outcomes.push({ action, ok: false, error: errorText(err) })
    }
  }
  return outcomes
}

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`

const importMasakari =
  (env: Record<string, string | undefined>): Run =>
  async (ctx, _args, opts) => {
    const dryRun = flag(opts, 'dry-run')
    const levelText = str(opts, 'level')
    const level = levelText === undefined ? undefined : (intValue('level', levelText, 1, 3) as Level)
    const only = (opts['segment'] as string[] | undefined) ?? []
    const source = masakariSource(opts, env)

    // Loaded here: the OpenStack client (undici) would slow every other command's start.
    const { readMasakari } = await import('../masakari/source.js')
    const masakari = await readMasakari(source, only)
    const api = ctx.api()
    const lazarus = await readLazarus(api)
    const plan = planImport(masakari.state, lazarus, { level, freeTextAttributes: str(opts, 'free-text-attributes') })
    const outcomes = dryRun ? [] : await apply(api, plan, lazarus)
    const failed = outcomes.filter((o) => !o.ok)

    if (ctx.json) {
      printJson(ctx, {
        masakari_url: masakari.url,
        lazarus_url: api.url,
        dry_run: dryRun,
        plan,
        ...(dryRun ? {} : { results: outcomes.map((o) => ({ ...o.action, ok: o.ok, uuid: o.uuid, error: o.error })) }),
      })
    } else {
      const hosts = masakari.state.reduce((n, s) => n + s.hosts.length, 0)
      const lines = [`Masakari (${masakari.url}): ${count(masakari.state.length, 'segment')}, ${count(hosts, 'host')}; Lazarus: ${api.url}`]
      if (dryRun) for (const a of plan.actions) lines.push(`would create ${describeAction(a)}`)
      else for (const o of outcomes) lines.push(o.ok ? `created ${describeAction(o.action)}` : `FAILED ${describeAction(o.action)}: ${o.error}`)
      const { segments: us, hosts: uh } = plan.unchanged
      if (us.length + uh.length > 0) lines.push(`already in Lazarus, left as is: ${[count(us.length, 'segment'), count(uh.length, 'host')].join(', ')}`)
      for (const d of plan.differences) lines.push(`differs (Lazarus kept): ${d}`)
      for (const c of plan.conflicts) lines.push(`conflict: ${c}`)
      lines.push(...fencingReport(plan.fencing))
      lines.push('')
      const creates = (kind: ImportAction['kind'], list: { kind: ImportAction['kind'] }[]) => list.filter((a) => a.kind === kind).length
      const done = outcomes.filter((o) => o.ok).map((o) => o.action)
      if (plan.actions.length === 0) lines.push('nothing to do: Lazarus already has every segment and host of Masakari')
      else if (dryRun)
        lines.push(
          `dry run: nothing written (would create ${count(creates('create_segment', plan.actions), 'segment')} and ${count(creates('create_host', plan.actions), 'host')})`,
        )
      else
        lines.push(
          `created ${count(creates('create_segment', done), 'segment')} and ${count(creates('create_host', done), 'host')}${failed.length ? `; ${failed.length} failed` : ''}`,
        )
      ctx.io.out(lines.join('\n'))
    }
    if (failed.length > 0) return Exit.failed
    if (plan.conflicts.length > 0) return Exit.conflict
    return Exit.ok
  }

export const addImportCommands = ({ program, action }: Program, env: Record<string, string | undefined> = process.env): void => {
  const imp = group(program, 'import', 'bring segments and hosts from another system')
  command(
    imp,
    'masakari',
    "register a running Masakari's segments and hosts in Lazarus",
    [
      'Reads every segment and host of Masakari (Keystone password auth from the --os-* flags or OS_*; its',
      'instance-ha endpoint from the catalog unless --masakari-url) and creates in Lazarus those it lacks, by',
      'name. What Lazarus already has is never changed: run it again at any time, it changes nothing. Then it',
      'lists the hosts whose control_attributes name no power driver: level 2 cannot fence them yet.',
    ].join('\n'),
  )
    .option('--dry-run', 'print what it would do, write nothing')
    .option('--segment <name>', 'import only this Masakari segment (repeatable)', collect)
    .option('--level <1|2|3>', "quick_evacuate_level of the segments it creates (default: the api's, 2)")
    .option('--free-text-attributes <attrs>', 'for created hosts whose Masakari control_attributes are free text (e.g. SSH): these instead, e.g. driver=none')
    .option('--masakari-url <url>', "Masakari's v1 URL (…/v1), instead of the catalog's instance-ha endpoint")
    .option('--os-auth-url <url>', 'Keystone (env OS_AUTH_URL)')
    .option('--os-username <name>', 'env OS_USERNAME')
    .option('--os-password <password>', 'env OS_PASSWORD')
    .option('--os-project-name <name>', 'env OS_PROJECT_NAME')
    .option('--os-user-domain-name <name>', 'env OS_USER_DOMAIN_NAME (default Default)')
    .option('--os-project-domain-name <name>', 'env OS_PROJECT_DOMAIN_NAME (default Default)')
    .option('--os-region-name <name>', 'region of the instance-ha endpoint (env OS_REGION_NAME)')
    .option('--os-interface <interface>', 'public, internal or admin (env OS_INTERFACE, default public)')
    .action(action(importMasakari(env)))
}
