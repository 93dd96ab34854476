import type { ApiClient, Segment } from '@lazarus/api-contract'
import { Argument } from 'commander'
import { command, intValue, printJson, str, type Command, type Program, type Run } from '../cli.js'
import { notFoundError, usageError } from '../errors.js'
import { capacityRecord, planTable } from '../render/views.js'
import { listAllSegments, resolveSegment } from '../resolve.js'

/**
 * `lazarus segment capacity SEGMENT` and `lazarus plan HOST... [--segment SEG]`: how many host
 * failures a segment tolerates, and what a recovery of some hosts would do (nothing changes).
 */

/** The segment holding every one of `hosts` (exit 4 when a host is in none; usage when in several). */
const segmentOfHosts = async (api: ApiClient, hosts: readonly string[]): Promise<Segment> => {
  const { segments } = await listAllSegments(api)
  const found = new Map<string, Segment>()
  for (const s of segments) {
    const got = await api.listAllHosts(s.uuid)
    for (const h of got.data) if (hosts.includes(h.name)) found.set(h.name, s)
  }
  const missing = hosts.filter((h) => !found.has(h))
  if (missing.length > 0) throw notFoundError(`no segment has host${missing.length === 1 ? '' : 's'} ${missing.join(', ')} — \`lazarus host list --segment SEG\` shows them`)
  const distinct = [...new Map([...found.values()].map((s) => [s.uuid, s])).values()]
  if (distinct.length > 1) throw usageError(`the hosts are in different segments (${distinct.map((s) => s.name).join(', ')}): plan one segment at a time, or give --segment`)
  return distinct[0] as Segment
}

const capacity: Run = async (ctx, [ref]) => {
  const api = ctx.api()
  const { segment } = await resolveSegment(api, ref as string)
  const got = await api.segmentCapacity(segment.uuid)
  if (ctx.json) printJson(ctx, got.raw)
  else ctx.io.out(capacityRecord(segment, got.data.capacity))
  return 0
}

const plan: Run = async (ctx, args, opts) => {
  const hosts = (args[0] as unknown as string[] | undefined) ?? []
  if (hosts.length === 0) throw usageError('name at least one host')
  const api = ctx.api()
  const ref = str(opts, 'segment')
  const segment = ref === undefined ? await segmentOfHosts(api, hosts) : (await resolveSegment(api, ref)).segment
  const concurrency = str(opts, 'concurrency')
  const got = await api.planSegment(segment.uuid, {
    plan: { hosts, ...(concurrency === undefined ? {} : { concurrency: intValue('concurrency', concurrency, 1, 1000) }) },
  })
  if (ctx.json) printJson(ctx, got.raw)
  else ctx.io.out(planTable(segment, got.data.plan))
  return 0
}

export const addPlanCommands = ({ program, action }: Pick<Program, 'program' | 'action'>, segmentGroup: Command): void => {
  command(
    segmentGroup,
    'capacity',
    'how many host failures a segment tolerates now',
    'GET /v1/segments/{id}/capacity: the api reads Nova and Placement and answers how many hosts may fail\n' +
      'with their instances still fitting on the others (exact for one, a safe bound above), the free\n' +
      'capacity still needed for one more, and the hosts whose failure alone could not be absorbed.',
  )
    .addArgument(new Argument('<segment>', 'segment name or uuid'))
    .action(action(capacity))

  command(
    program,
    'plan',
    'what a recovery of these hosts would do (nothing is changed)',
    'POST /v1/segments/{id}/plans: per instance its target host, wave, priority, restart group, whether it\n' +
      'fits, and when it is expected ACTIVE. The segment is found from the hosts unless --segment is given.',
  )
    .addArgument(new Argument('<host...>', 'failed host names'))
    .option('--segment <segment>', 'the segment (name or uuid) of the hosts')
    .option('--concurrency <n>', "evacuations at once (default: the api's PLAN_CONCURRENCY)")
    .action(action(plan))
}
