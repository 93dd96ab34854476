import { startEmbedded, type Embedded } from '@lazarus/all-in-one'
import { execFile, spawn } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/**
 * The built binary (`node packages/cli/dist/main.js`), run as a child process against the
 * whole system started in this process over a simulated cloud. Children run asynchronously:
 * the api answers from this same event loop.
 */

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const root = resolve(pkg, '../..')
const bin = join(pkg, 'dist', 'main.js')

const newestSource = (dir: string): number =>
  Math.max(
    0,
    ...readdirSync(dir, { withFileTypes: true }).map((e) =>
      e.isDirectory() ? newestSource(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? statSync(join(dir, e.name)).mtimeMs : 0,
    ),
  )

/** Build the CLI when dist is missing or older than its sources. */
const ensureBuilt = () =>
  new Promise<void>((ok, fail) => {
    if (existsSync(bin) && statSync(bin).mtimeMs >= newestSource(join(pkg, 'src'))) return ok()
    execFile('npx', ['tsc', '-b', 'packages/cli'], { cwd: root }, (err, stdout, stderr) => (err ? fail(new Error(`build failed: ${stdout}${stderr}`)) : ok()))
  })

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

const children = new Set<ReturnType<typeof spawn>>()

const run = (args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<Run> =>
  new Promise((ok) => {
    const child = spawn(process.execPath, [bin, ...args], {
      // No config file from the machine running the tests.
      env: { PATH: process.env['PATH'] ?? '', LAZARUS_CLI_CONFIG: join(pkg, 'no-such-config.json'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      children.delete(child)
      ok({ code, stdout, stderr })
    })
  })

const listen = async (server: Server): Promise<string> => {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

let sys: Embedded
let env: Record<string, string>
const servers: Server[] = []

beforeAll(async () => {
  await ensureBuilt()
  sys = await startEmbedded({ sim: { hosts: 4, instancesPerHost: 2, evacuationDelayMs: 200, reportIntervalMs: 1000, serviceDownTimeMs: 10_000 } })
  env = { LAZARUS_URL: sys.apiUrl }
}, 180_000)

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL')
  await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))))
  await sys?.stop()
})

const attrs = (host: string) =>
  `driver=redfish address=${sys.sim.redfishSystemUrl(host)} username=${sys.sim.credentials.username} password_file=${sys.bmcPasswordFile(host)} insecure_http=true`

describe('lazarus CLI against a running system', () => {
  it('creates, lists, shows, updates and deletes segments and hosts, by name or uuid', async () => {
    const created = await run(['segment', 'create', 'scratch', '--description', 'temporary', '--json'], env)
    expect(created.code, created.stderr).toBe(0)
    const seg = JSON.parse(created.stdout).segment
    expect(seg).toMatchObject({ name: 'scratch', recovery_method: 'auto', service_type: 'COMPUTE', enabled: true })

    const list = await run(['segment', 'list'], env)
    expect(list.code).toBe(0)
    expect(list.stdout).toMatch(/^uuid\s+name\s+recovery_method/)
    expect(list.stdout).toContain('scratch')

    const byUuid = await run(['segment', 'show', seg.uuid], env)
    expect(byUuid.stdout).toMatch(/description\s+temporary/)

    const upd = await run(['segment', 'update', 'scratch', '--recovery-method', 'reserved_host', '--level', '1', '--json'], env)
    expect(upd.code, upd.stderr).toBe(0)
    expect(JSON.parse(upd.stdout).segment).toMatchObject({ recovery_method: 'reserved_host', quick_evacuate_level: 1 })

    // pause/resume use the api's pause endpoints: `enabled` is untouched.
    const paused = await run(['segment', 'pause', 'scratch', '--reason', 'switch work in rack 7'], env)
    expect(paused.code, paused.stderr).toBe(0)
    expect(paused.stdout).toContain('segment scratch paused (switch work in rack 7)')
    const whilePaused = JSON.parse((await run(['segment', 'show', 'scratch', '--json'], env)).stdout).segment
    expect(whilePaused).toMatchObject({ enabled: true, paused: true, paused_reason: 'switch work in rack 7' })
    expect(whilePaused.paused_at).toEqual(expect.any(String))
    const shownPaused = await run(['segment', 'show', 'scratch'], env)
    expect(shownPaused.stdout).toMatch(/paused\s+yes/)
    expect(shownPaused.stdout).toMatch(/paused_reason\s+switch work in rack 7/)
    expect((await run(['segment', 'list'], env)).stdout).toMatch(/scratch\s+reserved_host\s+COMPUTE\s+yes\s+yes/)
    // Pausing again is harmless.
    expect((await run(['segment', 'pause', seg.uuid], env)).code).toBe(0)
    const resumed = await run(['segment', 'resume', seg.uuid], env)
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.stdout).toContain('segment scratch resumed')
    expect(resumed.stdout).toContain('no notifications were held')
    const afterResume = JSON.parse((await run(['segment', 'show', 'scratch', '--json'], env)).stdout).segment
    expect(afterResume).toMatchObject({ enabled: true, paused: false, paused_reason: null, paused_at: null })
    const resumedJson = JSON.parse((await run(['segment', 'resume', 'scratch', '--no-release-held', '--json'], env)).stdout)
    expect(resumedJson.held_notifications).toEqual({ count: 0, action: 'ignored' })

    const host = sys.sim.hostNames()[3] as string
    const hc = await run(['host', 'create', host, '--segment', 'scratch', '--control-attributes', attrs(host), '--reserved', 'true'], env)
    expect(hc.code, hc.stderr).toBe(0)
    expect(hc.stdout).toMatch(/reserved\s+yes/)
    expect(hc.stdout).toContain('password_file=')
    expect(hc.stdout).not.toContain(sys.sim.credentials.password)

    const hl = await run(['host', 'list', '--segment', seg.uuid, '--json'], env)
    const hosts = JSON.parse(hl.stdout).hosts
    expect(hosts.map((h: { name: string }) => h.name)).toEqual([host])

    const mon = await run(['host', 'maintenance', 'on', 'scratch', host], env)
    expect(mon.code, mon.stderr).toBe(0)
    const shown = await run(['host', 'show', hosts[0].uuid, '--segment', 'scratch', '--json'], env)
    expect(JSON.parse(shown.stdout).host.on_maintenance).toBe(true)
    expect((await run(['host', 'update', host, '--segment', 'scratch', '--on-maintenance', 'false', '--reserved', 'no'], env)).code).toBe(0)
    expect((await run(['host', 'show', host, '--segment', 'scratch'], env)).stdout).toMatch(/on_maintenance\s+no/)

    const hd = await run(['host', 'delete', host, '--segment', 'scratch'], env)
    expect(hd.code, hd.stderr).toBe(0)
    expect((await run(['host', 'show', host, '--segment', 'scratch'], env)).code).toBe(4)

    expect((await run(['segment', 'delete', 'scratch'], env)).code).toBe(0)
    const gone = await run(['segment', 'show', 'scratch'], env)
    expect(gone.code).toBe(4)
    expect(gone.stderr).toContain('no segment named or with uuid "scratch"')
    // About 20 CLI processes, each a Node start: 28 s on a loaded 2-core CI machine with
    // Node 20, over 60 s with Node 22 (CI runs the unit tests on both).
  }, 120_000)

  it("prints a segment's capacity and a what-if plan of a host's failure, the segment found from the host", async () => {
    const created = await run(['segment', 'create', 'capplan', '--capacity-policy', 'warn', '--capacity-target', '2', '--json'], env)
    expect(created.code, created.stderr).toBe(0)
    expect(JSON.parse(created.stdout).segment).toMatchObject({ capacity_policy: 'warn', capacity_target: 2 })
    const names = sys.sim.hostNames().slice(0, 3)
    for (const h of names) expect((await run(['host', 'create', h, '--segment', 'capplan', '--control-attributes', attrs(h)], env)).code).toBe(0)

    const cap = await run(['segment', 'capacity', 'capplan'], env)
    expect(cap.code, cap.stderr).toBe(0)
    // Three roomy hosts with two small instances each: any two may fail.
    expect(cap.stdout).toMatch(/tolerates\s+2 host failure\(s\)/)
    expect(cap.stdout).toMatch(/target\s+2 \(capacity_policy warn\)/)
    expect(cap.stdout).toMatch(/hosts\s+3 \(3 usable\)/)
    const capJson = JSON.parse((await run(['segment', 'capacity', 'capplan', '--json'], env)).stdout)
    expect(capJson.capacity).toMatchObject({ host_failures_tolerated: 2, hosts: 3, instances: 6 })

    const victim = names[0] as string
    const onVictim = sys.sim.servers().filter((s) => s.host === victim)
    const plan = await run(['plan', victim], env)
    expect(plan.code, plan.stderr).toBe(0)
    expect(plan.stdout).toContain(`plan of ${victim} failing in segment capplan`)
    expect(plan.stdout).toMatch(/wave\s+priority\s+group\s+instance\s+from → to\s+fits\s+expected s/)
    for (const s of onVictim) expect(plan.stdout).toMatch(new RegExp(`${s.id.slice(0, 8)}\\)\\s+${victim} → compute\\d\\s+yes`))
    const planJson = JSON.parse((await run(['plan', victim, '--segment', 'capplan', '--concurrency', '1', '--json'], env)).stdout).plan
    expect(planJson.placements.map((p: { instance_id: string }) => p.instance_id).sort()).toEqual(onVictim.map((s) => s.id).sort())
    expect(planJson).toMatchObject({ concurrency: 1, unplaced: 0 })
    expect(planJson.placements.every((p: { target: string }) => p.target !== victim && names.includes(p.target))).toBe(true)
    const unknown = await run(['plan', 'nosuchhost'], env)
    expect(unknown.code).toBe(4)
    expect(unknown.stderr).toContain('no segment has host nosuchhost')

    for (const h of names) expect((await run(['host', 'delete', h, '--segment', 'capplan'], env)).code).toBe(0)
    expect((await run(['segment', 'delete', 'capplan'], env)).code).toBe(0)
  }, 120_000)

  it('exits 4 for what does not exist, 5 on conflict, 2 on bad flags', async () => {
    expect((await run(['segment', 'show', '00000000-0000-4000-8000-000000000000'], env)).code).toBe(4)
    expect((await run(['notification', 'show', '00000000-0000-4000-8000-000000000000'], env)).code).toBe(4)
    expect((await run(['host', 'list', '--segment', 'nowhere'], env)).code).toBe(4)

    expect((await run(['segment', 'create', 'twice'], env)).code).toBe(0)
    const again = await run(['segment', 'create', 'twice'], env)
    expect(again.code).toBe(5)
    expect(again.stderr).toContain('Failover segment with name twice already exists.')
    expect((await run(['segment', 'delete', 'twice'], env)).code).toBe(0)

    const bad = await run(['segment', 'list', '--no-such-flag'], env)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("Unknown option '--no-such-flag'")
    expect((await run(['segment', 'create', 'x', '--recovery-method', 'pray'], env)).code).toBe(2)
    expect((await run(['segment', 'update', 'x'], env)).code).toBe(2)
    expect((await run(['segment', 'frobnicate'], env)).code).toBe(2)
    expect((await run([], env)).code).toBe(2)
    const help = await run(['notification', 'watch', '--help'], env)
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('Usage: lazarus notification watch <id>')
  }, 60_000)

  it('exits 7 with a hint when the api cannot be reached', async () => {
    const closed = createServer()
    const url = await listen(closed)
    await new Promise((ok) => closed.close(ok))
    const r = await run(['segment', 'list'], { LAZARUS_URL: url })
    expect(r.code).toBe(7)
    expect(r.stderr).toContain(`cannot reach the api at ${url}: connection refused — check LAZARUS_URL`)
    const flag = await run(['segment', 'list', '--url', url], { LAZARUS_URL: sys.apiUrl })
    expect(flag.code).toBe(7)
    expect(flag.stderr).toContain('check --url')
  })

  it("exits 6 on 401/403 and prints the api's own message", async () => {
    const server = createServer((req, res) => {
      const ok = req.headers['x-auth-token'] === 'reader-key'
      res.writeHead(ok ? 403 : 401, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify(
          ok
            ? { forbidden: { code: 403, message: 'Policy does not allow POST /v1/segments' } }
            : { unauthorized: { code: 401, message: 'Authentication required: send a valid X-Auth-Token' } },
        ),
      )
    })
    servers.push(server)
    const url = await listen(server)
    const anon = await run(['segment', 'list', '--url', url])
    expect(anon.code).toBe(6)
    expect(anon.stderr).toContain('Authentication required: send a valid X-Auth-Token — set --token or LAZARUS_TOKEN')
    const reader = await run(['segment', 'create', 's', '--url', url], { LAZARUS_TOKEN: 'reader-key' })
    expect(reader.code).toBe(6)
    expect(reader.stderr).toContain('Policy does not allow')
  })

  it('follows a real recovery to its end: every instance of the crashed host on a new host, exit 0', async () => {
    // Two of its three hosts fail in this file (over half): an operator of so small a segment lets the storm guard take them.
    expect((await run(['segment', 'create', 'prod', '--level', '2', '--storm-max-failed-fraction', '1'], env)).code).toBe(0)
    for (const h of sys.sim.hostNames().slice(0, 3)) {
      const r = await run(['host', 'create', h, '--segment', 'prod', '--control-attributes', attrs(h)], env)
      expect(r.code, r.stderr).toBe(0)
    }
    const victim = sys.sim.hostNames()[0] as string
    const before = sys.sim.servers().filter((s) => s.host === victim)
    expect(before.length).toBeGreaterThan(0)

    sys.sim.crashHost(victim)
    const created = await run(['notification', 'create', '--host', victim, '--json'], env)
    expect(created.code, created.stderr).toBe(0)
    const id = JSON.parse(created.stdout).notification.notification_uuid as string

    const watched = await run(['notification', 'watch', id, '--timeout', '90'], env, 100_000)
    expect(watched.code, watched.stdout + watched.stderr).toBe(0)
    expect(watched.stdout).toContain('fence_host')
    expect(watched.stdout).toContain('evacuate_instances_task')
    // Seen while running ("status running → finished"), or, when the recovery beat the watch
    // to it, from its final state ("status finished: …").
    expect(watched.stdout).toMatch(/status (running → )?finished/)

    const table = watched.stdout.slice(watched.stdout.lastIndexOf('instance  '))
    expect(table).toMatch(/^instance\s+from\s+to\s+seconds\s+result/)
    const after = sys.sim.servers()
    for (const vm of before) {
      const now = after.find((s) => s.id === vm.id)
      expect(now?.host).not.toBe(victim)
      expect(table).toMatch(new RegExp(`${vm.name}\\s+${victim}\\s+${now?.host}\\s+[\\d.]+\\s+succeeded`))
    }

    const json = await run(['notification', 'watch', id, '--json'], env)
    expect(json.code).toBe(0)
    const final = JSON.parse(json.stdout)
    expect(final.notification.status).toBe('finished')
    expect(final.vmoves).toHaveLength(before.length)

    const shown = await run(['notification', 'show', id], env)
    expect(shown.stdout).toMatch(/status\s+finished/)
    expect((await run(['notification', 'list', '--status', 'finished'], env)).stdout).toContain(id)

    // A finished notification cannot be retried: the api answers 409 (exit 5) with its reason.
    const retry = await run(['notification', 'retry', id], env)
    expect(retry.code, retry.stderr).toBe(5)
    expect(retry.stderr).toMatch(/^lazarus: .+/)
  }, 120_000)

  it('falls back to polling when the api has no event stream (404)', async () => {
    // A front that forwards everything to the api except the event stream.
    const front = createServer(async (req, res) => {
      if (req.url?.endsWith('/events')) {
        res.writeHead(404, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ itemNotFound: { code: 404, message: 'The resource could not be found.' } }))
        return
      }
      const chunks: Buffer[] = []
      for await (const c of req) chunks.push(c as Buffer)
      const body = chunks.length ? Buffer.concat(chunks) : undefined
      const answer = await fetch(`${sys.apiUrl}${req.url}`, {
        method: req.method ?? 'GET',
        headers: Object.fromEntries(
          Object.entries(req.headers)
            .filter(([k]) => !['host', 'connection', 'content-length'].includes(k))
            .map(([k, v]) => [k, String(v)]),
        ),
        ...(body ? { body } : {}),
      })
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' })
      res.end(Buffer.from(await answer.arrayBuffer()))
    })
    servers.push(front)
    const url = await listen(front)

    const victim = sys.sim.hostNames()[1] as string
    const before = sys.sim.servers().filter((s) => s.host === victim)
    sys.sim.crashHost(victim)
    const r = await run(['notification', 'create', '--host', victim, '--watch', '--poll-interval', '200', '--timeout', '90'], { LAZARUS_URL: url }, 100_000)
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stderr).toContain('has no event stream')
    for (const vm of before) expect(r.stdout).toMatch(new RegExp(`${vm.name}\\s+${victim}\\s+\\S+\\s+[\\d.]+\\s+succeeded`))
  }, 120_000)
})
