import { execFile } from 'node:child_process'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadBox, type BoxConfig } from '../real-nova/box.js'
import { repoRoot } from '../support/processes.js'

/**
 * `lazarus keystone register` (the built CLI) against the openstack-box's real Keystone:
 * run twice, the catalog holds one service and one endpoint per interface; a changed URL is
 * updated in place; wrong credentials exit 6. A service type of its own keeps the box's
 * real `instance-ha` registration untouched; everything is removed afterwards.
 */

const run = promisify(execFile)
const loaded = loadBox()

if (!loaded.box) {
  describe('lazarus keystone register', () => {
    it.skip(`skipped: ${loaded.reason}`, () => {})
  })
} else {
  const box: BoxConfig = loaded.box
  const keystone = box.client.authUrl.replace(/\/+$/, '').replace(/(\/v3)?$/, '/v3')
  const TYPE = `instance-ha-test-${process.pid}`
  const NAME = 'lazarus'

  const cli = async (args: string[], env: Record<string, string> = box.env): Promise<{ code: number; out: string; err: string }> => {
    // Only the box's OS_* settings: nothing of this process's environment stands in.
    const clean = Object.fromEntries(
      Object.keys(process.env)
        .filter((k) => k.startsWith('OS_'))
        .map((k) => [k, '']),
    )
    try {
      const { stdout, stderr } = await run(process.execPath, [resolve(repoRoot, 'packages/cli/dist/main.js'), ...args], {
        env: { ...process.env, ...clean, ...env },
        timeout: 60_000,
      })
      return { code: 0, out: stdout, err: stderr }
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string }
      return { code: x.code, out: x.stdout, err: x.stderr }
    }
  }

  let token = ''
  const ks = async (method: string, path: string): Promise<any> => {
    const res = await fetch(`${keystone}${path}`, { method, headers: { 'X-Auth-Token': token } })
    return res.status === 204 ? null : res.json()
  }
  const mine = async () => {
    const services = (await ks('GET', `/services?type=${TYPE}`)).services as { id: string; name: string }[]
    const endpoints = services.length
      ? ((await ks('GET', `/endpoints?service_id=${services[0]!.id}`)).endpoints as { id: string; interface: string; url: string; region_id: string }[])
      : []
    return { services, endpoints }
  }

  describe('lazarus keystone register on the real Keystone', () => {
    beforeAll(async () => {
      const c = box.client
      const res = await fetch(`${keystone}/auth/tokens`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          auth: {
            identity: { methods: ['password'], password: { user: { name: c.username, domain: { name: 'Default' }, password: c.password } } },
            scope: { project: { name: c.projectName, domain: { name: 'Default' } } },
          },
        }),
      })
      token = res.headers.get('x-subject-token') ?? ''
    })

    afterAll(async () => {
      const { services } = await mine()
      for (const s of services) {
        for (const e of (await ks('GET', `/endpoints?service_id=${s.id}`)).endpoints as { id: string }[]) await ks('DELETE', `/endpoints/${e.id}`)
        await ks('DELETE', `/services/${s.id}`)
      }
      expect((await mine()).services).toEqual([])
    })

    it('registers once: run twice, one service and one endpoint per interface', async () => {
      const args = ['keystone', 'register', '--type', TYPE, '--public', 'http://127.0.0.1:25868/', '--internal', 'http://127.0.0.1:25868', '--admin', 'http://127.0.0.1:25869']
      const first = await cli(args)
      expect(first.code, first.err).toBe(0)
      expect(first.out).toMatch(/created service lazarus/)
      expect(first.out).toMatch(/catalog updated/)
      const second = await cli(args)
      expect(second.code, second.err).toBe(0)
      expect(second.out).toMatch(/catalog already up to date/)
      const { services, endpoints } = await mine()
      expect(services.map((s) => s.name)).toEqual([NAME])
      expect(endpoints.map((e) => `${e.interface} ${e.region_id} ${e.url}`).sort()).toEqual([
        'admin RegionOne http://127.0.0.1:25869',
        'internal RegionOne http://127.0.0.1:25868',
        'public RegionOne http://127.0.0.1:25868',
      ])
    }, 120_000)

    it('updates a changed URL in place (same endpoint id), and --dry-run writes nothing', async () => {
      const before = (await mine()).endpoints.find((e) => e.interface === 'public')!
      const dry = await cli(['keystone', 'register', '--type', TYPE, '--public', 'http://127.0.0.1:35868', '--dry-run'])
      expect(dry.code, dry.err).toBe(0)
      expect(dry.out).toMatch(/would have updated public endpoint/)
      expect((await mine()).endpoints.find((e) => e.interface === 'public')!.url).toBe('http://127.0.0.1:25868')
      const r = await cli(['keystone', 'register', '--type', TYPE, '--public', 'http://127.0.0.1:35868', '--json'])
      expect(r.code, r.err).toBe(0)
      expect(JSON.parse(r.out)).toMatchObject({ changed: true, steps: [{ kind: 'update', id: before.id, url: 'http://127.0.0.1:35868' }] })
      const { endpoints } = await mine()
      expect(endpoints).toHaveLength(3)
      expect(endpoints.find((e) => e.id === before.id)!.url).toBe('http://127.0.0.1:35868')
    }, 120_000)

    it('refuses wrong credentials (exit 6) without printing the password, and a URL that is not http(s) (exit 2)', async () => {
      const bad = 'not-the-admin-password'
      const r = await cli(['keystone', 'register', '--type', TYPE, '--public', 'http://127.0.0.1:25868'], { ...box.env, OS_PASSWORD: bad })
      expect(r.code).toBe(6)
      expect(r.err + r.out).not.toContain(bad)
      const u = await cli(['keystone', 'register', '--type', TYPE, '--public', 'ftp://x'])
      expect(u.code).toBe(2)
    }, 120_000)
  })
}
