import { startCloudSim, type CloudSim } from '@lazarus/cloud-sim'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKeystoneValidator } from './auth/keystone.js'
import { legacyPolicyEntries } from './auth/policy.js'
import { loadPolicy } from './auth/policy-file.js'
import { startHarness, type Harness } from './testing/harness.js'

/** Keystone auth against cloud-sim's Keystone: tokens validated with GET /v3/auth/tokens, roles, policy, cache. */

const issue = async (sim: CloudSim): Promise<string> => {
  const c = sim.credentials
  const res = await fetch(`${sim.authUrl}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: c.username, domain: { name: 'Default' }, password: c.password } } },
        scope: { project: { name: c.projectName, domain: { name: 'Default' } } },
      },
    }),
  })
  return res.headers.get('x-subject-token') as string
}

describe('Keystone tokens', () => {
  let sim: CloudSim
  let h: Harness
  const keystoneConfig = (extra: Record<string, unknown> = {}) => ({
    keystoneUrl: sim.authUrl,
    osUsername: sim.credentials.username,
    osPassword: sim.credentials.password,
    osProjectName: sim.credentials.projectName,
    ...extra,
  })

  beforeAll(async () => {
    sim = await startCloudSim({ hosts: 1, instancesPerHost: 0 })
    // Creating segments is kept for a role the sim's user lacks, to see a 403.
    h = await startHarness({ engine: 'postgres', config: keystoneConfig({ policy: JSON.stringify({ 'segments:delete': ['ha-operator'] }) }) })
  })
  afterAll(async () => {
    await h?.close()
    await sim?.close()
  })

  it('answers 401 without a token or with one Keystone does not know, 403 when the policy refuses the roles, and changes nothing', async () => {
    const token = await issue(sim)
    const none = await h.request('POST', '/v1/segments', { segment: { name: 'a', recovery_method: 'auto', service_type: 'COMPUTE' } })
    expect(none.status).toBe(401)
    expect(none.body.unauthorized.message).toContain('X-Auth-Token')
    const bad = await h.request('POST', '/v1/segments', { segment: { name: 'a', recovery_method: 'auto', service_type: 'COMPUTE' } }, { 'X-Auth-Token': 'gAAAAAbogus' })
    expect(bad.status).toBe(401)

    const ok = await h.request('POST', '/v1/segments', { segment: { name: 'a', recovery_method: 'auto', service_type: 'COMPUTE' } }, { 'X-Auth-Token': token })
    expect(ok.status).toBe(201)
    const del = await h.request('DELETE', `/v1/segments/${ok.body.segment.uuid}`, undefined, { 'X-Auth-Token': token })
    expect(del.status).toBe(403)
    expect(del.body.forbidden.message).toContain('segments:delete')
    const still = await h.request('GET', `/v1/segments/${ok.body.segment.uuid}`, undefined, { 'X-Auth-Token': token })
    expect(still.status).toBe(200)
    // Version discovery stays open.
    expect((await h.request('GET', '/v1')).status).toBe(200)
  })

  it('keeps a validated token until it expires (Keystone is asked once), and gets itself a new service token when its own is refused', async () => {
    let now = Date.now()
    const validator = createKeystoneValidator({
      url: sim.authUrl,
      credentials: { authUrl: sim.authUrl, ...sim.credentials },
      cacheSize: 2,
      timeoutMs: 5000,
      now: () => now,
    })
    const token = await issue(sim)
    const first = await validator.validate(token)
    expect(first?.roles).toEqual(expect.arrayContaining(['admin', 'member', 'reader']))
    sim.revokeTokens() // Keystone forgets every token, the api's own included
    expect(await validator.validate(token)).toEqual(first) // from the cache
    now = (first?.expiresAt ?? 0) + 1 // past its expiry: asked again, and Keystone no longer knows it
    expect(await validator.validate(token)).toBeUndefined()
    const fresh = await issue(sim)
    expect((await validator.validate(fresh))?.roles).toContain('admin') // a new service token was fetched
    // Bounded: at most cacheSize entries.
    await validator.validate('x1')
    await validator.validate('x2')
    await validator.validate('x3')
    expect(validator.cached()).toBeLessThanOrEqual(2)
  })

  it('refuses a policy that names an unknown action or is not a list of roles or a check string', () => {
    expect(() => loadPolicy({ policy: '{"segments:explode": ["admin"]}' })).toThrow(/unknown action 'segments:explode'/)
    // A bare word is not a check string (oslo.policy wants kind:match).
    expect(() => loadPolicy({ policy: '{"segments:create": "admin"}' })).toThrow(/os_masakari_api:segments:create.*not a check/)
    expect(legacyPolicyEntries('{"notifications:create": ["service"]}')).toEqual({ 'os_masakari_api:notifications:create': 'role:service' })
  })
})
