import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { issueToken } from '@lazarus/openstack'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadBox, type BoxConfig } from '../real-nova/box.js'
import { createTestDatabase, createTestVhost } from '../support/infra.js'
import { repoRoot, startNode, type RunningProcess } from '../support/processes.js'

/**
 * `lazarus import masakari` (the built CLI, as a child process) from the openstack-box's real
 * Masakari 14 into a Lazarus api: segments and hosts made in Masakari with the real
 * `openstack segment …` commands (python3-masakariclient), Masakari found through the box's
 * Keystone catalog. A dry run writes nothing; the import creates them; a second import changes
 * nothing, also after the operator gave a host its fencing attributes in Lazarus.
 *
 * The box's Masakari is shared: the test imports only its own segments (`--segment`), and
 * Masakari wants each host to be a Nova compute in no other segment, so it takes two of the
 * box's computes that no Masakari segment holds at the time.
 */

const run = promisify(execFile)
const loaded = loadBox()
const CLI = resolve(repoRoot, 'packages/cli/dist/main.js')
const oscMissing = !existsSync('/usr/bin/openstack')
const skipReason = !loaded.box
  ? loaded.reason
  : !loaded.box.masakariUrl
    ? 'the box runs without Masakari (WITH_MASAKARI=0): no MASAKARI_URL in its settings'
    : oscMissing
      ? 'the openstack CLI (python3-openstackclient, python3-masakariclient) is not installed'
      : undefined

if (skipReason) {
  describe('lazarus import masakari', () => {
    it.skip(`skipped: ${skipReason}`, () => {})
  })
} else {
  const box: BoxConfig = loaded.box!
  const masakariUrl = box.masakariUrl!.replace(/\/+$/, '')

  describe('lazarus import masakari: from the real Masakari of the box into a Lazarus api', () => {
    const sfx = `${process.pid}-${randomBytes(3).toString('hex')}`
    const segA = `lzr-import-${sfx}-a`
    const segB = `lzr-import-${sfx}-b`
    const API_KEY = `import-admin-${sfx}`
    let home: string
    let token: string
    let hosts: string[] = []
    const made: { segments: string[] } = { segments: [] }
    let api: RunningProcess | undefined
    let apiUrl: string
    let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined
    let vhost: Awaited<ReturnType<typeof createTestVhost>> | undefined

    const masakari = async (method: string, path: string): Promise<any> => {
      const res = await fetch(`${masakariUrl}${path}`, {
        method,
        headers: { 'x-auth-token': token, 'openstack-api-version': 'instance-ha 1.2' },
        signal: AbortSignal.timeout(30_000),
      })
      const text = await res.text()
      if (res.status >= 300) throw new Error(`Masakari ${method} ${path} → ${res.status} ${text}`)
      return text ? JSON.parse(text) : null
    }

    /** `openstack …` as the box's admin (OS_* from the box), JSON out. */
    const osc = async (args: string[]): Promise<any> => {
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OS_')))
      try {
        const r = await run('/usr/bin/openstack', [...args, '-f', 'json'], { env: { ...env, ...box.env, HOME: home }, cwd: home, timeout: 120_000 })
        return JSON.parse(r.stdout)
      } catch (err) {
        const e = err as { stderr?: string; message: string }
        throw new Error(`openstack ${args.join(' ')} failed: ${e.stderr ?? e.message}`)
      }
    }

    const lazarus = async (path: string): Promise<any> => {
      const res = await fetch(`${apiUrl}${path}`, { headers: { 'x-auth-token': API_KEY }, signal: AbortSignal.timeout(15_000) })
      expect(res.status, path).toBe(200)
      return res.json()
    }

    /** Every segment of Lazarus with its hosts, as the api shows them (timestamps included). */
    const lazarusState = async () => {
      const { segments } = await lazarus('/v1/segments?sort_key=name&sort_dir=asc')
      const out: { segment: any; hosts: any[] }[] = []
      for (const s of segments) out.push({ segment: s, hosts: (await lazarus(`/v1/segments/${s.uuid}/hosts?sort_key=name&sort_dir=asc`)).hosts })
      return out
    }

    const cli = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      new Promise((ok) => {
        const child = spawn(process.execPath, [CLI, ...args], {
          env: {
            PATH: process.env['PATH'] ?? '',
            ...box.env,
            LAZARUS_URL: apiUrl,
            LAZARUS_TOKEN: API_KEY,
            LAZARUS_CLI_CONFIG: join(home, 'no-such-config.json'),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        let stdout = ''
        let stderr = ''
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
        const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
        child.on('close', (code) => {
          clearTimeout(timer)
          ok({ code, stdout, stderr })
        })
      })

    const importArgs = ['import', 'masakari', '--segment', segA, '--segment', segB]

    beforeAll(async () => {
      if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (pnpm run build)`)
      home = mkdtempSync(join(tmpdir(), 'lazarus-import-'))
      token = (await issueToken(box.client, 20_000)).token

      // Two computes no Masakari segment holds now (Masakari refuses a host in two segments).
      const taken = new Set<string>()
      for (const s of (await masakari('GET', '/segments')).segments) {
        for (const h of (await masakari('GET', `/segments/${s.uuid}/hosts`)).hosts) taken.add(h.name)
      }
      hosts = box.computeHosts.filter((h) => !taken.has(h)).slice(0, 2)
      if (hosts.length < 2) throw new Error(`the box's Masakari holds ${[...taken].join(', ')} in its segments: two free computes are needed`)

      const a = await osc(['segment', 'create', segA, 'auto', 'COMPUTE', '--description', 'imported by the test'])
      made.segments.push(a.uuid)
      const b = await osc(['segment', 'create', segB, 'reserved_host', 'COMPUTE', '--is_enabled', 'False'])
      made.segments.push(b.uuid)
      // Masakari's documentation example for control_attributes: free text, no fencing settings.
      await osc(['segment', 'host', 'create', hosts[0]!, 'COMPUTE', 'SSH', a.uuid])
      await osc(['segment', 'host', 'create', hosts[1]!, 'COMPUTE', 'driver=ipmi address=10.0.0.2 username=fence password_env=BMC_PW', b.uuid, '--reserved', 'True'])

      db = await createTestDatabase(`lazarus_import_${process.pid}`)
      vhost = await createTestVhost(`lazarus-import-${process.pid}`)
      api = startNode('api', 'services/api/dist/main.js', {
        API_PORT: '0',
        DATABASE_URL: db.url,
        AMQP_URL: vhost.url,
        API_KEYS: `${API_KEY}:admin`,
        LOG_LEVEL: 'info',
      })
      const line = await api.waitForLine(/api listening/, 60_000)
      apiUrl = `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`
    }, 300_000)

    afterAll(async () => {
      const errors: unknown[] = []
      const step = (f: () => Promise<unknown>) => f().catch((err) => errors.push(err))
      for (const id of made.segments) {
        await step(async () => {
          for (const h of (await masakari('GET', `/segments/${id}/hosts`)).hosts) await masakari('DELETE', `/segments/${id}/hosts/${h.uuid}`)
          await masakari('DELETE', `/segments/${id}`)
        })
      }
      await step(async () => api?.stop())
      await step(async () => db?.drop())
      await step(async () => vhost?.drop())
      if (home) rmSync(home, { recursive: true, force: true })
      if (errors.length > 0) throw new AggregateError(errors, `cleanup failed: ${errors.map(String).join('; ')}`)
    }, 120_000)

    it('dry run: prints the plan and the fencing report, writes nothing', async () => {
      const r = await cli([...importArgs, '--dry-run'])
      expect(r.code, r.stderr).toBe(0)
      // Found through the catalog: Masakari's project-scoped endpoint.
      expect(r.stdout).toMatch(/^Masakari \(http:\/\/127\.0\.0\.1:15868\/v1\/[0-9a-f]{32}\): 2 segments, 2 hosts/)
      expect(r.stdout).toContain(`would create segment ${segA} (auto, COMPUTE, level 2 (default))`)
      expect(r.stdout).toContain(`would create host ${hosts[0]} in segment ${segA} (COMPUTE)`)
      expect(r.stdout).toContain(`would create segment ${segB} (reserved_host, COMPUTE, disabled, level 2 (default))`)
      expect(r.stdout).toContain(`would create host ${hosts[1]} in segment ${segB} (COMPUTE, reserved)`)
      expect(r.stdout).toMatch(/1 host needs fencing attributes before level 2 can protect it/)
      expect(r.stdout).toMatch(new RegExp(`${hosts[0]}\\s+${segA}\\s+2\\s+SSH\\s+"SSH" is not key=value`))
      expect(r.stdout).toContain(`The fencer refuses free-text attributes at every level: ${hosts[0]} is not recovered`)
      expect(r.stdout).toContain('dry run: nothing written (would create 2 segments and 2 hosts)')
      expect(await lazarusState()).toEqual([])
    }, 180_000)

    it('imports the segments and hosts; a second run changes nothing, also after the operator added fencing attributes', async () => {
      const first = await cli(importArgs)
      expect(first.code, first.stderr + first.stdout).toBe(0)
      expect(first.stdout).toContain('created 2 segments and 2 hosts')

      const state = await lazarusState()
      expect(state.map((s) => s.segment)).toEqual([
        expect.objectContaining({ name: segA, recovery_method: 'auto', service_type: 'COMPUTE', description: 'imported by the test', enabled: true, quick_evacuate_level: 2 }),
        expect.objectContaining({ name: segB, recovery_method: 'reserved_host', service_type: 'COMPUTE', description: null, enabled: false, quick_evacuate_level: 2 }),
      ])
      expect(state.map((s) => s.hosts)).toEqual([
        [expect.objectContaining({ name: hosts[0], type: 'COMPUTE', control_attributes: 'SSH', reserved: false, on_maintenance: false })],
        [
          expect.objectContaining({
            name: hosts[1],
            type: 'COMPUTE',
            control_attributes: 'driver=ipmi address=10.0.0.2 username=fence password_env=BMC_PW',
            reserved: true,
            on_maintenance: false,
          }),
        ],
      ])

      const second = await cli(importArgs)
      expect(second.code, second.stderr).toBe(0)
      expect(second.stdout).toContain('already in Lazarus, left as is: 2 segments, 2 hosts')
      expect(second.stdout).toContain('nothing to do: Lazarus already has every segment and host of Masakari')
      expect(await lazarusState()).toEqual(state)

      // The migration's next step: the host gets its BMC in Lazarus. A later import keeps it.
      const attrs = 'driver=ipmi address=10.0.0.1 username=fence password_file=/etc/lazarus/bmc-1'
      const upd = await cli(['host', 'update', hosts[0]!, '--segment', segA, '--control-attributes', attrs])
      expect(upd.code, upd.stderr).toBe(0)
      const edited = await lazarusState()
      expect(edited[0]!.hosts[0]!.control_attributes).toBe(attrs)

      const third = await cli([...importArgs, '--json'])
      expect(third.code, third.stderr).toBe(0)
      const report = JSON.parse(third.stdout)
      expect(report.plan).toMatchObject({ actions: [], differences: [], conflicts: [], fencing: [] })
      expect(report.results).toEqual([])
      expect(await lazarusState()).toEqual(edited)
    }, 300_000)
  })
}
