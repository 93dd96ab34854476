import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { OpenStackClient } from '@lazarus/openstack'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bootServers, computeCtl, connect, deleteServers, loadBox, restoreCompute, serversNamed, waitActiveElsewhere, waitComputesUp, type BoxConfig } from '../real-nova/box.js'
import { eventually, startNode, type RunningProcess } from '../support/processes.js'

/**
 * `lazarus serve --config FILE` (the built CLI, as its own process) against the
 * openstack-box's real Keystone and Nova: the whole system in one process, PGlite on disk,
 * its credentials an application credential in clouds.yaml (`os_cloud`), callers
 * authenticated with Keystone tokens (validated with that application credential). A compute whose nova-compute is killed is
 * recovered (its servers ACTIVE on other hosts), then SIGTERM stops it cleanly (exit 0).
 * Needs `pnpm run build`. Skipped, with how to enable it, when the box is not up.
 */

const loaded = loadBox()
const PREFIX = 'lzr-serve-'
const VICTIM = process.env['SERVE_VICTIM'] ?? 'compute3'

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })

if (!loaded.box) {
  describe('lazarus serve on a real OpenStack', () => {
    it.skip(`skipped: ${loaded.reason}`, () => {})
  })
} else {
  const box: BoxConfig = loaded.box
  describe('lazarus serve on a real OpenStack: one process recovers a killed compute', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lzr-serve-'))
    let os: OpenStackClient
    let serve: RunningProcess | undefined
    let apiUrl = ''
    let token = ''
    let ids: string[] = []
    let killed = false
    let userId = ''
    let appCred: { id: string; secret: string } | undefined
    const keystone = box.client.authUrl.replace(/\/+$/, '').replace(/(\/v3)?$/, '/v3')

    const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
      const res = await fetch(`${apiUrl}${path}`, {
        method,
        headers: { 'X-Auth-Token': token, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? null : JSON.stringify(body),
      })
      const text = await res.text()
      return { status: res.status, body: text ? JSON.parse(text) : null }
    }

    beforeAll(async () => {
      os = await connect(box)
      await waitComputesUp(box)
      const old = await serversNamed(os, PREFIX)
      if (old.length > 0) await deleteServers(os, old)
      ids = await bootServers(os, box, { host: VICTIM, names: [1, 2].map((n) => `${PREFIX}${n}`) })

      const port = await freePort()
      const c = box.client
      // A Keystone token of the box's admin, as an operator's client sends it; and with it an
      // application credential, which serve authenticates with (clouds.yaml, as operators keep it).
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
      expect(token).not.toBe('')
      userId = ((await res.json()) as { token: { user: { id: string } } }).token.user.id
      const created = await fetch(`${keystone}/users/${userId}/application_credentials`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Auth-Token': token },
        body: JSON.stringify({ application_credential: { name: `lzr-serve-${process.pid}-${Date.now()}` } }),
      })
      expect(created.status).toBe(201)
      appCred = ((await created.json()) as { application_credential: { id: string; secret: string } }).application_credential
      const clouds = join(dir, 'clouds.yaml')
      writeFileSync(
        clouds,
        [
          'clouds:',
          '  box:',
          '    auth_type: v3applicationcredential',
          '    auth:',
          `      auth_url: ${c.authUrl}`,
          `      application_credential_id: ${appCred.id}`,
          `      application_credential_secret: "${appCred.secret}"`,
          `    region_name: ${c.regionName ?? 'RegionOne'}`,
          '',
        ].join('\n'),
        { mode: 0o600 },
      )
      const conf = join(dir, 'serve.conf')
      writeFileSync(
        conf,
        [
          '[DEFAULT]',
          'os_cloud = box',
          `os_client_config_file = ${clouds}`,
          `masakari_api_listen_port = ${port}`,
          'log_level = info',
          '',
          '[database]',
          `connection = ${join(dir, 'db')}`,
          '',
        ].join('\n'),
        { mode: 0o600 },
      )
      // Nothing from this process's environment may stand in for the file.
      const clean = Object.fromEntries(
        Object.keys(process.env)
          .filter((k) => /^(OS_|LAZARUS_|API_|AUTH$|KEYSTONE_|DATABASE_URL$)/.test(k))
          .map((k) => [k, '']),
      )
      serve = startNode('serve', 'packages/cli/dist/main.js', clean, { args: ['serve', '--config', conf] })
      await serve.waitForLine(/lazarus serve started/, 120_000)
      apiUrl = `http://127.0.0.1:${port}`
    }, 300_000)

    afterAll(async () => {
      const errors: unknown[] = []
      const step = (f: () => Promise<unknown>) => f().catch((err) => errors.push(err))
      await step(async () => serve?.stop('SIGKILL'))
      if (os && killed) await step(() => restoreCompute(os, box, VICTIM))
      if (os) await step(() => deleteServers(os, ids))
      if (appCred) await step(() => fetch(`${keystone}/users/${userId}/application_credentials/${appCred!.id}`, { method: 'DELETE', headers: { 'X-Auth-Token': token } }))
      rmSync(dir, { recursive: true, force: true })
      if (errors.length > 0) throw new AggregateError(errors, `cleanup failed: ${errors.map(String).join('; ')}`)
    }, 300_000)

    it('refuses a caller without a Keystone token', async () => {
      const res = await fetch(`${apiUrl}/v1/segments`)
      expect(res.status).toBe(401)
    })

    it('recovers a killed compute host: its servers ACTIVE on other hosts, the notification finished; SIGTERM then exits 0', async () => {
      const seg = await api('POST', '/v1/segments', { segment: { name: 'serve', recovery_method: 'auto', service_type: 'COMPUTE', quick_evacuate_level: 1 } })
      expect(seg.status, JSON.stringify(seg.body)).toBe(201)
      for (const h of box.computeHosts) {
        const r = await api('POST', `/v1/segments/${seg.body.segment.uuid}/hosts`, { host: { name: h, type: 'COMPUTE', control_attributes: 'driver=none' } })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
      }
      // Host names are checked in the real Nova.
      expect(
        (await api('POST', `/v1/segments/${seg.body.segment.uuid}/hosts`, { host: { name: 'no-such-compute', type: 'COMPUTE', control_attributes: 'driver=none' } })).status,
      ).toBe(400)

      await computeCtl(box, ['kill', VICTIM])
      killed = true
      const t0 = Date.now()
      const n = await api('POST', '/v1/notifications', {
        notification: {
          type: 'COMPUTE_HOST',
          hostname: VICTIM,
          generated_time: new Date().toISOString(),
          payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
        },
      })
      expect(n.status, JSON.stringify(n.body)).toBe(202)
      const nid = n.body.notification.notification_uuid as string
      const { lastAt, hosts } = await waitActiveElsewhere(os, ids, VICTIM, 120_000)
      const final = await eventually(
        `notification ${nid} final`,
        async () => {
          const st = (await api('GET', `/v1/notifications/${nid}`)).body.notification
          return ['finished', 'failed', 'error', 'ignored'].includes(st.status) ? st : undefined
        },
        60_000,
        250,
      )
      expect(final.status, JSON.stringify(final)).toBe('finished')
      for (const id of ids) {
        expect(hosts[id]).not.toBe(VICTIM)
        expect(await os.nova.getServer(id)).toMatchObject({ status: 'ACTIVE', locked: false })
      }
      const [svc] = await os.nova.listComputeServices({ host: VICTIM })
      expect(svc).toMatchObject({ forcedDown: true, state: 'down' })
      console.log(`[serve] ${ids.length} servers ACTIVE away from ${VICTIM} ${((lastAt - t0) / 1000).toFixed(2)} s after the notification`)

      const s = serve!
      const stopAt = Date.now()
      const code = await s.stop('SIGTERM')
      expect(code, s.lines.slice(-10).join('\n')).toBe(0)
      expect(Date.now() - stopAt).toBeLessThan(10_000)
      expect(s.lines.some((l) => l.includes('"msg":"shutting down"'))).toBe(true)
      // No secret in anything it printed.
      expect(s.lines.join('\n')).not.toContain(appCred!.secret)
    }, 240_000)
  })
}
