import { describe, expect, it } from 'vitest'
import { faultMessage } from '@lazarus/api-contract'
import { networkReason, urlHint } from './api.js'
import { boolValue, createProgram, leafCommands, usageLine, type Context } from './cli.js'
import { addCommands } from './commands/index.js'
import { buildPayload, exitForStatus } from './commands/notifications.js'
import { type CliError, Exit } from './errors.js'
import { runCli } from './run.js'
import { hostBody, notificationBody, segmentBody } from './testing/api-answers.js'

const usage = (fn: () => unknown) => {
  try {
    fn()
  } catch (err) {
    return (err as CliError).exitCode
  }
  return undefined
}

const SEGMENT = segmentBody()
const HOST = hostBody()
const NOTIFICATION = notificationBody()

interface Call {
  method: string
  url: URL
  body: unknown
}

/** Run one command line against a stand-in api that answers from `answer`. */
const cli = async (argv: string[], answer: (c: Call) => unknown = () => ({}), headersOf: (c: Call) => Record<string, string> = () => ({})) => {
  const out: string[] = []
  const err: string[] = []
  const calls: Call[] = []
  const fetch = (async (input: string | URL, init?: RequestInit) => {
    const call = { method: init?.method ?? 'GET', url: new URL(String(input)), body: init?.body ? JSON.parse(String(init.body)) : undefined }
    calls.push(call)
    return new Response(JSON.stringify(answer(call)), { status: 200, headers: { 'content-type': 'application/json', ...headersOf(call) } })
  }) as typeof globalThis.fetch
  const io = { out: (t: string) => out.push(`${t}\n`), write: (t: string) => out.push(t), err: (t: string) => err.push(`${t}\n`), tty: false }
  const code = await runCli({ argv, env: { LAZARUS_CLI_CONFIG: '/nonexistent/cli.json' }, io, fetch })
  return { code, stdout: out.join(''), stderr: err.join(''), calls }
}

/** A segment looked up by uuid (GET /v1/segments/{id}), or listed. */
const SEGMENT_ANSWER = (c: Call) => (c.url.pathname === '/v1/segments' ? { segments: [SEGMENT] } : { segment: SEGMENT })

const segmentsAndHosts = (c: Call) => {
  if (c.url.pathname === '/v1/segments') return { segments: [SEGMENT] }
  if (c.url.pathname.endsWith('/hosts')) return { hosts: [HOST] }
  return { host: { ...HOST, on_maintenance: true } }
}

describe('command line', () => {
  it('finds the command and its arguments, with global options anywhere', async () => {
    const r = await cli(['--url', 'http://x:1', 'host', 'maintenance', 'on', 'seg', 'h1', '--json'], segmentsAndHosts)
    expect(r.code, r.stderr).toBe(0)
    expect(r.calls.map((c) => `${c.method} ${c.url.origin}${c.url.pathname}`)).toEqual([
      'GET http://x:1/v1/segments',
      `GET http://x:1/v1/segments/${SEGMENT.uuid}/hosts`,
      `PUT http://x:1/v1/segments/${SEGMENT.uuid}/hosts/${HOST.uuid}`,
    ])
    expect(r.calls[2]?.body).toEqual({ host: { on_maintenance: true } })
    expect(JSON.parse(r.stdout).host.on_maintenance).toBe(true)
  })

  it('takes --url and --token after the command too', async () => {
    const r = await cli(['segment', 'list', '--token', 't', '--url=http://y:2', '--enabled', 'yes'], () => ({ segments: [SEGMENT] }))
    expect(r.code, r.stderr).toBe(0)
    expect(r.calls[0]?.url.origin).toBe('http://y:2')
    expect(r.calls[0]?.url.searchParams.get('enabled')).toBe('true')
    expect(r.stdout).toMatch(/^uuid\s+name\s+recovery_method/)
  })

  it('collects repeated options', async () => {
    const r = await cli(['notification', 'create', '--host', 'c1', '--set', 'a=1', '--set', 'b=2', '--json'], () => ({ notification: NOTIFICATION }))
    expect(r.code, r.stderr).toBe(0)
    expect(r.calls[0]?.body).toMatchObject({ notification: { type: 'COMPUTE_HOST', hostname: 'c1', payload: { a: '1', b: '2' } } })
  })

  it('makes unknown options, missing and extra arguments and bad choices usage errors (exit 2), before calling the api', async () => {
    const bogus = await cli(['segment', 'list', '--bogus'])
    expect(bogus.code).toBe(Exit.usage)
    expect(bogus.stderr).toBe("lazarus: Unknown option '--bogus' — see `lazarus segment list --help`\n")
    expect((await cli(['segment', 'show'])).code).toBe(Exit.usage)
    expect((await cli(['segment', 'show', 'a', 'b'])).code).toBe(Exit.usage)
    expect((await cli(['host', 'maintenance', 'maybe', 's', 'h'])).code).toBe(Exit.usage)
    expect((await cli(['host', 'list', '--segment'])).code).toBe(Exit.usage)
    const typo = await cli(['host', 'list', '--segmnt', 's'])
    expect(typo.stderr).toContain("Unknown option '--segmnt' (did you mean --segment?)")
    for (const argv of [
      ['segment', 'list', '--bogus'],
      ['segment', 'show'],
      ['host', 'maintenance', 'maybe', 's', 'h'],
    ]) {
      expect((await cli(argv)).calls).toEqual([])
    }
  })

  it("sends a segment's storm guard thresholds, `default` as null, and refuses values out of bounds before calling the api", async () => {
    const created = await cli(['segment', 'create', 'rack', '--storm-max-failures', '8', '--storm-max-failed-fraction', '1', '--storm-window', '600', '--json'], () => ({
      segment: SEGMENT,
    }))
    expect(created.code, created.stderr).toBe(0)
    expect(created.calls[0]?.body).toMatchObject({ segment: { name: 'rack', storm_max_failures: 8, storm_max_failed_fraction: 1, storm_window_s: 600 } })
    const cleared = await cli(['segment', 'update', SEGMENT.uuid, '--storm-max-failed-fraction', 'default', '--json'], (c) =>
      c.method === 'GET' ? SEGMENT_ANSWER(c) : { segment: SEGMENT },
    )
    expect(cleared.code, cleared.stderr).toBe(0)
    expect(cleared.calls.at(-1)?.body).toEqual({ segment: { storm_max_failed_fraction: null } })
    for (const bad of [
      ['--storm-max-failures', '0'],
      ['--storm-max-failures', '2.5'],
      ['--storm-max-failed-fraction', '0'],
      ['--storm-max-failed-fraction', '1.5'],
      ['--storm-max-failed-fraction', 'half'],
      ['--storm-window', '86401'],
    ]) {
      const r = await cli(['segment', 'create', 'rack', ...bad])
      expect(r.code, bad.join(' ')).toBe(Exit.usage)
      expect(r.calls).toEqual([])
    }
  })

  it('releases one held notification and lists the held ones', async () => {
    const released = await cli(['notification', 'release', NOTIFICATION.notification_uuid], () => ({ notification: { ...NOTIFICATION, held: false } }))
    expect(released.code, released.stderr).toBe(0)
    expect(released.calls.map((c) => `${c.method} ${c.url.pathname}`)).toEqual([`POST /v1/notifications/${NOTIFICATION.notification_uuid}/release`])
    expect(released.stdout).toContain(`notification ${NOTIFICATION.notification_uuid} released`)
    const listed = await cli(['notification', 'list', '--held'], () => ({ notifications: [{ ...NOTIFICATION, status: 'new', held: true }] }))
    expect(listed.code, listed.stderr).toBe(0)
    expect(listed.calls[0]?.url.searchParams.get('held')).toBe('true')
    expect(listed.stdout).toContain('new (held)')
  })

  it('answers a group or an unknown command with help and exit 2', async () => {
    const group = await cli(['segment'])
    expect(group.code).toBe(Exit.usage)
    expect(group.stderr).toContain('Usage: lazarus segment <command>')
    expect(group.stderr).toContain('lazarus segment list [options]')
    expect(group.stderr).not.toContain('lazarus host list')
    const unknown = await cli(['segment', 'frobnicate'])
    expect(unknown.code).toBe(Exit.usage)
    expect(unknown.stderr).toMatch(/^lazarus: Unknown command 'frobnicate'/)
    expect((await cli([])).code).toBe(Exit.usage)
  })

  it("documents segment pause|resume as the api's pause endpoints, not the enabled flag", async () => {
    const pause = await cli(['segment', 'pause', '--help'])
    expect(pause.stdout).toContain('POST /v1/segments/{id}/pause')
    expect(pause.stdout).toContain('--reason <text>')
    expect(pause.stdout).toContain('storm guard')
    expect(pause.stdout).not.toMatch(/enabled/)
    const resume = await cli(['segment', 'resume', '--help'])
    expect(resume.stdout).toContain('POST /v1/segments/{id}/resume')
    expect(resume.stdout).toContain('--no-release-held')
  })

  it('shows help (exit 0) for every command, the whole program and the version', async () => {
    const p = createProgram({ io: { out: () => {}, write: () => {}, err: () => {}, tty: false }, context: () => ({}) as Context })
    addCommands(p)
    const leaves = leafCommands(p.program)
    expect(leaves.map(usageLine)).toContain('lazarus host maintenance on|off <segment> <host>')
    for (const c of leaves) {
      const path = usageLine(c).split(' ').slice(1, 3)
      const r = await cli([...path, '--help'])
      expect(r.code).toBe(0)
      expect(r.stdout).toContain(`Usage: ${usageLine(c)}`)
      expect(r.stdout).toContain('Global options:')
    }
    const top = await cli(['--help'])
    expect(top.code).toBe(0)
    expect(top.stdout).toMatch(/^Usage: lazarus <command> \[options\]/)
    for (const c of leaves) expect(top.stdout).toContain(usageLine(c))
    expect(top.stdout).toContain('Exit codes:')
    expect((await cli(['help', 'segment'])).stdout).toContain('Usage: lazarus segment <command>')
    expect((await cli(['--version'])).stdout).toBe('lazarus 0.1.0 (instance-ha api microversion 1.3)\n')
    expect((await cli(['version'])).stdout).toBe('lazarus 0.1.0 (instance-ha api microversion 1.3)\n')
  })
})

describe('alert list', () => {
  const alert = (over: Record<string, unknown> = {}) => ({
    uuid: '0b6e1f6a-7e0e-4f7e-9d2c-2a1f3c4d5e6f',
    id: 1,
    kind: 'storm',
    severity: 'critical',
    segment_id: SEGMENT.uuid,
    host: null,
    notification_uuid: null,
    message: 'storm guard: 3 of 4 hosts failing',
    source: 'detector',
    created_at: '2026-01-01T00:00:00.000Z',
    cleared_at: '2026-01-01T00:10:00.000Z',
    cleared_reason: 'segment az1 resumed',
    ...over,
  })

  it('asks for active or cleared alerts and shows when each cleared', async () => {
    const active = await cli(['alert', 'list', '--active', '--kind', 'storm'], () => ({ alerts: [alert({ cleared_at: null, cleared_reason: null })] }))
    expect(active.code, active.stderr).toBe(0)
    expect(active.calls[0]?.url.pathname).toBe('/v1/alerts')
    expect(Object.fromEntries(active.calls[0]!.url.searchParams)).toEqual({ active: 'true', kind: 'storm' })
    expect(active.stdout).toMatch(/^uuid\s+kind\s+severity\s+host\s+segment\s+raised\s+cleared\s+message/)

    const cleared = await cli(['alert', 'list', '--cleared', '--json'], () => ({ alerts: [alert()] }))
    expect(cleared.calls[0]?.url.searchParams.get('active')).toBe('false')
    expect(JSON.parse(cleared.stdout).alerts[0].cleared_at).toBe('2026-01-01T00:10:00.000Z')

    expect((await cli(['alert', 'list', '--active', '--cleared'])).code).toBe(Exit.usage)
    expect((await cli(['alert', 'list', '--kind', 'nope'])).code).toBe(Exit.usage)
  })
})

describe('values', () => {
  it('reads booleans the way operators write them', () => {
    expect(boolValue('x', 'yes')).toBe(true)
    expect(boolValue('x', 'False')).toBe(false)
    expect(usage(() => boolValue('x', 'maybe'))).toBe(Exit.usage)
  })

  it('builds notification payloads', () => {
    expect(buildPayload('COMPUTE_HOST', undefined, [])).toEqual({ event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' })
    expect(buildPayload('COMPUTE_HOST', '{"event":"STARTED"}', ['host_status=UNKNOWN'])).toEqual({ event: 'STARTED', host_status: 'UNKNOWN' })
    expect(usage(() => buildPayload('PROCESS', undefined, []))).toBe(Exit.usage)
    expect(usage(() => buildPayload('VM', '[1]', []))).toBe(Exit.usage)
    expect(usage(() => buildPayload('VM', undefined, ['novalue']))).toBe(Exit.usage)
  })

  it('maps a final status to the watch exit code', () => {
    expect(exitForStatus('finished')).toBe(0)
    expect(exitForStatus('failed')).toBe(1)
    expect(exitForStatus('error')).toBe(1)
    expect(exitForStatus('ignored')).toBe(3)
  })
})

describe('capacity and plans', () => {
  const PLAN = {
    segment_id: SEGMENT.uuid,
    failed_hosts: ['h1'],
    strategy: 'spread',
    concurrency: 16,
    evacuation_s: 42,
    evacuation_s_source: 'measured',
    placements: [
      { instance_id: '11111111-aaaa-4000-8000-000000000001', name: 'db-1', from: 'h1', target: 'h2', fits: true, reason: null, priority: 1, group: 'db', wave: 0, expected_s: 42 },
      {
        instance_id: '22222222-aaaa-4000-8000-000000000002',
        name: 'web-1',
        from: 'h1',
        target: null,
        fits: false,
        reason: 'MEMORY_MB short',
        priority: 3,
        group: null,
        wave: 1,
        expected_s: 0,
      },
    ],
    waves: [
      { wave: 0, groups: ['db'], instances: 1 },
      { wave: 1, groups: [null], instances: 1 },
    ],
    unplaced: 1,
    expected_s: 42,
    computed_at: '2026-01-01T00:00:00.000Z',
    warnings: [],
  }

  it('prints a plan as a table in start order, the segment given', async () => {
    const r = await cli(['--url', 'http://x:1', 'plan', 'h1', '--segment', SEGMENT.uuid, '--concurrency', '4'], (c) =>
      c.url.pathname.endsWith('/plans') ? { plan: PLAN } : { segment: SEGMENT },
    )
    expect(r.code, r.stderr).toBe(0)
    expect(r.calls.at(-1)?.body).toEqual({ plan: { hosts: ['h1'], concurrency: 4 } })
    const lines = r.stdout.split('\n')
    expect(lines[0]).toContain('plan of h1 failing in segment')
    expect(r.stdout).toMatch(/wave\s+priority\s+group\s+instance\s+from → to\s+fits\s+expected s/)
    expect(r.stdout).toMatch(/0\s+1\s+db\s+db-1 \(11111111\)\s+h1 → h2\s+yes\s+42/)
    expect(r.stdout).toMatch(/1\s+3\s+-\s+web-1 \(22222222\)\s+h1 → -\s+no: MEMORY_MB short\s+-/)
    expect(r.stdout).toContain('1 of 2 instance(s) placed; all ACTIVE after 42 s expected; 1 fit nowhere')
  })

  it('finds the segment from the hosts, and refuses hosts of two segments', async () => {
    const other = { ...SEGMENT, uuid: '99999999-9999-4999-8999-999999999999', name: 'other' }
    const answer = (c: Call) => {
      if (c.url.pathname === '/v1/segments') return { segments: [SEGMENT, other] }
      if (c.url.pathname === `/v1/segments/${SEGMENT.uuid}/hosts`) return { hosts: [{ ...HOST, name: 'h1' }] }
      if (c.url.pathname === `/v1/segments/${other.uuid}/hosts`) return { hosts: [{ ...HOST, name: 'h9', failover_segment_id: other.uuid }] }
      return { plan: PLAN }
    }
    const one = await cli(['--url', 'http://x:1', 'plan', 'h1', '--json'], answer)
    expect(one.code, one.stderr).toBe(0)
    expect(one.calls.at(-1)?.url.pathname).toBe(`/v1/segments/${SEGMENT.uuid}/plans`)
    expect(JSON.parse(one.stdout).plan.placements).toHaveLength(2)
    const two = await cli(['--url', 'http://x:1', 'plan', 'h1', 'h9'], answer)
    expect(two.code).toBe(Exit.usage)
    expect(two.stderr).toContain('different segments')
  })

  it("prints the api's Lazarus-Warning on stderr when a host goes on maintenance, the JSON staying JSON", async () => {
    const warning = 'capacity: after putting host h1 on maintenance, failover segment s tolerates 0 host failure(s), below its capacity_target of 1'
    const r = await cli(['--url', 'http://x:1', 'host', 'maintenance', 'on', 'seg', 'h1', '--json'], segmentsAndHosts, (c) =>
      c.method === 'PUT' ? { 'Lazarus-Warning': warning } : {},
    )
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toBe(`warning: ${warning}\n`)
    expect(JSON.parse(r.stdout).host.on_maintenance).toBe(true)
  })

  it('sends the capacity policy of segment create and update, `default` as null', async () => {
    const r = await cli(['--url', 'http://x:1', 'segment', 'update', SEGMENT.uuid, '--capacity-policy', 'refuse', '--capacity-target', 'default'], () => ({ segment: SEGMENT }))
    expect(r.code, r.stderr).toBe(0)
    expect(r.calls.at(-1)?.body).toEqual({ segment: { capacity_policy: 'refuse', capacity_target: null } })
    const bad = await cli(['--url', 'http://x:1', 'segment', 'update', SEGMENT.uuid, '--capacity-policy', 'sometimes'], () => ({ segment: SEGMENT }))
    expect(bad.code).toBe(Exit.usage)
  })
})

describe('api client helpers', () => {
  it("reads Masakari's fault body", () => {
    expect(faultMessage({ itemNotFound: { code: 404, message: 'No segment' } })).toBe('No segment')
    expect(faultMessage({ message: 'plain' })).toBe('plain')
    expect(faultMessage('text')).toBeUndefined()
  })

  it('names the network failure hidden in the cause chain', () => {
    const refused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) })
    expect(networkReason(refused)).toBe('connection refused')
    const aggregate = new TypeError('fetch failed', { cause: Object.assign(new AggregateError([Object.assign(new Error('x'), { code: 'ENOTFOUND' })]), {}) })
    expect(networkReason(aggregate)).toBe('no such host')
  })

  it('points at where the URL came from', () => {
    expect(urlHint({ urlSource: 'default', configPath: '/c' })).toBe('set --url or LAZARUS_URL')
    expect(urlHint({ urlSource: 'file', configPath: '/c' })).toContain('/c')
  })
})
