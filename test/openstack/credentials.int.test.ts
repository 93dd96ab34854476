import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { connectOpenStack, KeystoneError, resolveOpenStackOptions } from '@lazarus/openstack'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadBox, type BoxConfig } from '../real-nova/box.js'
import { createTestVhost } from '../support/infra.js'
import { repoRoot, startNode, type RunningProcess } from '../support/processes.js'

/**
 * Credentials as operators give them, against the openstack-box's real Keystone and Nova:
 * clouds.yaml chosen by OS_CLOUD (password, secure.yaml, application credentials by id and
 * by name), openstacksdk's search order, a refused secret that no message repeats, and the
 * standalone api checking host names with Nova through an application credential of clouds.yaml.
 */

const loaded = loadBox()

if (!loaded.box) {
  describe('OpenStack credentials on the real Keystone', () => {
    it.skip(`skipped: ${loaded.reason}`, () => {})
  })
} else {
  const box: BoxConfig = loaded.box
  const keystone = box.client.authUrl.replace(/\/+$/, '').replace(/(\/v3)?$/, '/v3')

  /** An admin token and its user id, straight from Keystone (test set-up, not the code under test). */
  const adminToken = async (): Promise<{ token: string; userId: string }> => {
    const res = await fetch(`${keystone}/auth/tokens`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: box.client.username, domain: { name: box.client.userDomainName ?? 'Default' }, password: box.client.password } },
          },
          scope: { project: { name: box.client.projectName, domain: { name: box.client.projectDomainName ?? 'Default' } } },
        },
      }),
    })
    expect(res.status).toBe(201)
    const body = (await res.json()) as { token: { user: { id: string } } }
    return { token: res.headers.get('x-subject-token')!, userId: body.token.user.id }
  }

  describe('OpenStack credentials on the real Keystone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lzr-clouds-'))
    const home = join(dir, 'home')
    const cwd = join(dir, 'cwd')
    let admin: { token: string; userId: string }
    let appCred: { id: string; name: string; secret: string } | undefined

    const write = (file: string, text: string): string => {
      mkdirSync(dirname(file), { recursive: true })
      writeFileSync(file, text, { mode: 0o600 })
      return file
    }

    const passwordCloud = (name: string, password: string) =>
      `  ${name}:\n    auth:\n      auth_url: ${box.client.authUrl}\n      username: ${box.client.username}\n      password: "${password}"\n      project_name: ${box.client.projectName}\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: ${box.client.regionName ?? 'RegionOne'}\n    interface: public\n`

    /** Proves the credentials by a Nova call that needs the admin role. */
    const novaHosts = async (s: Parameters<typeof connectOpenStack>[0]): Promise<string[]> => {
      const os = await connectOpenStack(s)
      return (await os.nova.listComputeServices()).map((c) => c.host).sort()
    }

    beforeAll(async () => {
      admin = await adminToken()
      const name = `lzr-cred-${process.pid}-${Date.now()}`
      const res = await fetch(`${keystone}/users/${admin.userId}/application_credentials`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Auth-Token': admin.token },
        body: JSON.stringify({ application_credential: { name, description: 'Lazarus credentials test' } }),
      })
      expect(res.status, await res.clone().text()).toBe(201)
      const body = (await res.json()) as { application_credential: { id: string; secret: string; name: string } }
      appCred = body.application_credential
    }, 60_000)

    afterAll(async () => {
      if (appCred) {
        await fetch(`${keystone}/users/${admin.userId}/application_credentials/${appCred.id}`, { method: 'DELETE', headers: { 'X-Auth-Token': admin.token } })
      }
      rmSync(dir, { recursive: true, force: true })
    })

    it('OS_* settings alone, as before: password authentication', async () => {
      expect(await novaHosts({ osAuthUrl: box.client.authUrl, osUsername: box.client.username, osPassword: box.client.password, osProjectName: box.client.projectName })).toEqual(
        expect.arrayContaining(box.computeHosts),
      )
    }, 60_000)

    it('clouds.yaml with a password, the cloud chosen by OS_CLOUD among several', async () => {
      const file = write(join(dir, 'a', 'clouds.yaml'), `clouds:\n${passwordCloud('wrong', 'not-the-password')}${passwordCloud('box', box.client.password!)}`)
      expect(await novaHosts({ osCloud: 'box', osClientConfigFile: file })).toEqual(expect.arrayContaining(box.computeHosts))
      await expect(novaHosts({ osCloud: 'wrong', osClientConfigFile: file })).rejects.toThrow(KeystoneError)
      expect(() => resolveOpenStackOptions({ osCloud: 'absent', osClientConfigFile: file })).toThrow(/has no cloud 'absent' \(it has: wrong, box\)/)
    }, 60_000)

    it("openstacksdk's search order: OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/clouds.yaml; secure.yaml merged over it", () => {
      write(join(home, '.config/openstack/clouds.yaml'), `clouds:\n  c:\n    auth: {auth_url: 'http://home.example:5000/v3', username: u, password: p, project_name: x}\n`)
      expect(resolveOpenStackOptions({ osCloud: 'c' }, { cwd, home }).authUrl).toBe('http://home.example:5000/v3')
      write(join(cwd, 'clouds.yaml'), `clouds:\n  c:\n    auth: {auth_url: 'http://cwd.example:5000/v3', username: u, project_name: x}\n`)
      // ./clouds.yaml first; it has no password: secure.yaml (found in ~/.config/openstack) gives it.
      expect(() => resolveOpenStackOptions({ osCloud: 'c' }, { cwd, home })).toThrow(/needs OS_PASSWORD/)
      write(join(home, '.config/openstack/secure.yaml'), `clouds:\n  c:\n    auth: {password: from-secure}\n`)
      expect(resolveOpenStackOptions({ osCloud: 'c' }, { cwd, home })).toMatchObject({ authUrl: 'http://cwd.example:5000/v3', username: 'u', password: 'from-secure' })
      const first = write(join(dir, 'first.yaml'), `clouds:\n  c:\n    auth: {auth_url: 'http://first.example:5000/v3', username: u, password: p, project_name: x}\n`)
      expect(resolveOpenStackOptions({ osCloud: 'c' }, { cwd, home, configFile: first }).authUrl).toBe('http://first.example:5000/v3')
      // A setting given explicitly overrides the cloud's field.
      expect(resolveOpenStackOptions({ osCloud: 'c', osProjectName: 'other' }, { cwd, home, configFile: first }).projectName).toBe('other')
    })

    it('a password held in secure.yaml only, against the real Keystone', async () => {
      const clouds = write(join(dir, 'b', 'clouds.yaml'), `clouds:\n${passwordCloud('box', 'placeholder').replace(/ {6}password: "placeholder"\n/, '')}`)
      const secure = write(join(dir, 'b', 'secure.yaml'), `clouds:\n  box:\n    auth:\n      password: "${box.client.password}"\n`)
      expect(await novaHosts({ osCloud: 'box', osClientConfigFile: clouds, osClientSecureFile: secure })).toEqual(expect.arrayContaining(box.computeHosts))
    }, 60_000)

    it('a Keystone application credential by id (auth_type v3applicationcredential), from clouds.yaml and from OS_* settings', async () => {
      const c = appCred!
      const file = write(
        join(dir, 'c', 'clouds.yaml'),
        `clouds:\n  box-app:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: ${box.client.authUrl}\n      application_credential_id: ${c.id}\n      application_credential_secret: "${c.secret}"\n    region_name: RegionOne\n`,
      )
      expect(await novaHosts({ osCloud: 'box-app', osClientConfigFile: file })).toEqual(expect.arrayContaining(box.computeHosts))
      expect(await novaHosts({ osAuthUrl: box.client.authUrl, osApplicationCredentialId: c.id, osApplicationCredentialSecret: c.secret })).toEqual(
        expect.arrayContaining(box.computeHosts),
      )
    }, 60_000)

    it('an application credential by name and its user', async () => {
      const c = appCred!
      expect(
        await novaHosts({
          osAuthUrl: box.client.authUrl,
          osAuthType: 'v3applicationcredential',
          osApplicationCredentialName: c.name,
          osUsername: box.client.username,
          osApplicationCredentialSecret: c.secret,
        }),
      ).toEqual(expect.arrayContaining(box.computeHosts))
    }, 60_000)

    it('the standalone api checks host names with Nova through OS_CLOUD (an application credential in clouds.yaml): compute1 taken, another name 400', async () => {
      if (!existsSync(join(repoRoot, 'services/api/dist/main.js'))) throw new Error('services/api/dist is missing: npx tsc -b services/api')
      const c = appCred!
      const file = write(
        join(dir, 'api', 'clouds.yaml'),
        `clouds:\n  box-app:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: ${box.client.authUrl}\n      application_credential_id: ${c.id}\n      application_credential_secret: "${c.secret}"\n    region_name: RegionOne\n`,
      )
      const vhost = await createTestVhost(`lazarus-apicreds-${process.pid}`)
      let api: RunningProcess | undefined
      try {
        // A bare environment: no OS_* of this shell reaches the api, only the cloud of clouds.yaml.
        api = startNode(
          'api',
          'services/api/dist/main.js',
          {
            OS_CLOUD: 'box-app',
            OS_CLIENT_CONFIG_FILE: file,
            COMPUTE_HOST_CHECK: 'nova',
            AUTH: 'none',
            API_PORT: '0',
            DATABASE_URL: 'memory:',
            AMQP_URL: vhost.url,
            LOG_LEVEL: 'info',
          },
          { bareEnv: true },
        )
        const line = await api.waitForLine(/api listening/, 60_000)
        const url = `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`
        const call = async (method: string, path: string, body: unknown) => {
          const res = await fetch(`${url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
          return { status: res.status, body: (await res.json().catch(() => null)) as any }
        }
        const seg = await call('POST', '/v1/segments', { segment: { name: `apicreds-${process.pid}`, recovery_method: 'auto', service_type: 'COMPUTE' } })
        expect(seg.status, JSON.stringify(seg.body)).toBe(201)
        const segment = seg.body.segment.uuid as string
        const real = box.computeHosts[0]!
        const ok = await call('POST', `/v1/segments/${segment}/hosts`, { host: { name: real, type: 'COMPUTE', control_attributes: 'x' } })
        expect(ok.status, JSON.stringify(ok.body)).toBe(201)
        expect(ok.body.host.name).toBe(real)
        const bad = await call('POST', `/v1/segments/${segment}/hosts`, { host: { name: `not-a-compute-${process.pid}`, type: 'COMPUTE', control_attributes: 'x' } })
        expect(bad.status).toBe(400)
        expect(JSON.stringify(bad.body)).toContain(`Compute service with name not-a-compute-${process.pid} could not be found.`)
        // Nova's exact, case-sensitive match: the same name in capitals is no compute either.
        expect((await call('POST', `/v1/segments/${segment}/hosts`, { host: { name: real.toUpperCase(), type: 'COMPUTE', control_attributes: 'x' } })).status).toBe(400)
        expect(api.lines.join('\n')).toContain('host names are checked against Nova compute services')
        expect(api.lines.join('\n')).not.toContain(c.secret)
      } finally {
        await api?.stop()
        await vhost.drop()
      }
    }, 120_000)

    it("the standalone api validates callers' Keystone tokens with its own application credential from clouds.yaml (OS_CLOUD)", async () => {
      const c = appCred!
      const file = write(
        join(dir, 'api-tokens', 'clouds.yaml'),
        `clouds:\n  box-app:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: ${box.client.authUrl}\n      application_credential_id: ${c.id}\n      application_credential_secret: "${c.secret}"\n    region_name: RegionOne\n`,
      )
      const vhost = await createTestVhost(`lazarus-apitokens-${process.pid}`)
      let api: RunningProcess | undefined
      try {
        // A bare environment: the api's only account is the application credential of clouds.yaml.
        api = startNode(
          'api',
          'services/api/dist/main.js',
          {
            AUTH: 'keystone',
            KEYSTONE_URL: box.client.authUrl,
            OS_CLOUD: 'box-app',
            OS_CLIENT_CONFIG_FILE: file,
            COMPUTE_HOST_CHECK: 'off',
            API_PORT: '0',
            DATABASE_URL: 'memory:',
            AMQP_URL: vhost.url,
            LOG_LEVEL: 'info',
          },
          { bareEnv: true },
        )
        const line = await api.waitForLine(/api listening/, 60_000)
        const url = `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`
        const caller = await adminToken()
        const withToken = await fetch(`${url}/v1/segments`, { headers: { 'X-Auth-Token': caller.token } })
        expect(withToken.status, await withToken.clone().text()).toBe(200)
        // A token Keystone never issued: refused once Keystone says so (validated with the application credential).
        const forged = await fetch(`${url}/v1/segments`, { headers: { 'X-Auth-Token': `gAAAAA${'x'.repeat(180)}` } })
        expect(forged.status).toBe(401)
        expect(api.lines.join('\n')).not.toContain(c.secret)
      } finally {
        await api?.stop()
        await vhost.drop()
      }
    }, 120_000)

    it('the standalone api with COMPUTE_HOST_CHECK=nova and no credentials refuses to start, naming OS_CLOUD', async () => {
      const vhost = await createTestVhost(`lazarus-apicreds-none-${process.pid}`)
      try {
        const api = startNode(
          'api',
          'services/api/dist/main.js',
          { COMPUTE_HOST_CHECK: 'nova', AUTH: 'none', API_PORT: '0', DATABASE_URL: 'memory:', AMQP_URL: vhost.url },
          { bareEnv: true },
        )
        const code = await new Promise<number | null>((r) => api.child.once('exit', r))
        expect(code).not.toBe(0)
        expect(api.lines.join('\n')).toMatch(/COMPUTE_HOST_CHECK=nova needs OpenStack credentials: OS_CLOUD/)
      } finally {
        await vhost.drop()
      }
    }, 60_000)

    it('a bad secret is refused by Keystone (401) and no message repeats it', async () => {
      const c = appCred!
      // Keystone hashes secrets with bcrypt, which reads only their first 72 bytes: change the start.
      const bad = `XXXX${c.secret.slice(4)}`
      const err = await connectOpenStack({ osAuthUrl: box.client.authUrl, osApplicationCredentialId: c.id, osApplicationCredentialSecret: bad }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(KeystoneError)
      expect((err as KeystoneError).status).toBe(401)
      expect((err as Error).message).toContain(`application credential '${c.id}'`)
      expect(JSON.stringify({ m: (err as Error).message, s: (err as Error).stack })).not.toContain(bad)
      const badPassword = 'wrong-password-lzr-test'
      const err2 = await connectOpenStack({ osAuthUrl: box.client.authUrl, osUsername: box.client.username, osPassword: badPassword, osProjectName: box.client.projectName }).catch(
        (e: unknown) => e,
      )
      expect((err2 as KeystoneError).status).toBe(401)
      expect((err2 as Error).message).not.toContain(badPassword)
    }, 60_000)
  })
}
