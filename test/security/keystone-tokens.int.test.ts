import { startCloudSim, type CloudSim } from '@lazarus/cloud-sim'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { issueToken, startApiProcess, type ApiProcess } from './api-process.js'

/**
 * Keystone tokens over the api process and cloud-sim's Keystone: a revoked token stops
 * working within KEYSTONE_TOKEN_CACHE_TIME, and a flood of distinct bogus tokens neither
 * reaches Keystone beyond the invalid-token rate nor pushes a valid token out of its cache.
 */

describe('Keystone tokens at the api', () => {
  let sim: CloudSim
  let shortCache: ApiProcess
  let flooded: ApiProcess

  beforeAll(async () => {
    sim = await startCloudSim({ hosts: 1, instancesPerHost: 0 })
    const keystoneEnv = {
      KEYSTONE_URL: sim.authUrl,
      OS_USERNAME: sim.credentials.username,
      OS_PASSWORD: sim.credentials.password,
      OS_PROJECT_NAME: sim.credentials.projectName,
    }
    ;[shortCache, flooded] = await Promise.all([
      startApiProcess('ks_revoke', { ...keystoneEnv, KEYSTONE_TOKEN_CACHE_TIME: '1' }),
      // A small cache of valid tokens: today's single cache let bogus tokens push them out.
      startApiProcess('ks_flood', {
        ...keystoneEnv,
        KEYSTONE_CACHE_SIZE: '5',
        KEYSTONE_NEGATIVE_CACHE_SIZE: '20',
        KEYSTONE_INVALID_TOKEN_RATE: '1',
        KEYSTONE_INVALID_TOKEN_BURST: '5',
      }),
    ])
  }, 120_000)

  afterAll(async () => {
    await Promise.all([shortCache?.stop(), flooded?.stop()])
    await sim?.close()
  })

  it("cloud-sim's Keystone revokes a token as Keystone does: DELETE 204, then GET 404 and the token refused", async () => {
    const token = await issueToken(sim.authUrl, sim.credentials)
    const observer = await issueToken(sim.authUrl, sim.credentials)
    const del = await fetch(`${sim.authUrl}/auth/tokens`, { method: 'DELETE', headers: { 'X-Auth-Token': token, 'X-Subject-Token': token } })
    expect(del.status).toBe(204)
    const get = await fetch(`${sim.authUrl}/auth/tokens`, { headers: { 'X-Auth-Token': observer, 'X-Subject-Token': token } })
    expect(get.status).toBe(404)
    // Another user may neither validate nor revoke someone else's token.
    sim.addKeystoneUser({ name: 'nosy', password: 'p', projectName: 'tenant-n', roles: ['member'] })
    const nosy = await issueToken(sim.authUrl, { username: 'nosy', password: 'p', projectName: 'tenant-n' })
    expect((await fetch(`${sim.authUrl}/auth/tokens`, { headers: { 'X-Auth-Token': nosy, 'X-Subject-Token': observer } })).status).toBe(403)
    expect((await fetch(`${sim.authUrl}/auth/tokens`, { method: 'DELETE', headers: { 'X-Auth-Token': nosy, 'X-Subject-Token': observer } })).status).toBe(403)
  })

  it('stops accepting a revoked token within KEYSTONE_TOKEN_CACHE_TIME', async () => {
    const token = await issueToken(sim.authUrl, sim.credentials)
    expect((await shortCache.call('GET', '/v1/segments', { token })).status).toBe(200)
    const del = await fetch(`${sim.authUrl}/auth/tokens`, { method: 'DELETE', headers: { 'X-Auth-Token': token, 'X-Subject-Token': token } })
    expect(del.status).toBe(204)
    const revokedAt = Date.now()
    let status = 200
    while (status === 200 && Date.now() - revokedAt < 8_000) {
      await new Promise((r) => setTimeout(r, 200))
      status = (await shortCache.call('GET', '/v1/segments', { token })).status
    }
    expect(status).toBe(401)
    expect(Date.now() - revokedAt).toBeLessThan(5_000) // 1 s of cache, plus the polling
  })

  it("keeps a flood of distinct bogus tokens away from Keystone and from the valid tokens' cache", async () => {
    const valid = await issueToken(sim.authUrl, sim.credentials)
    expect((await flooded.call('GET', '/v1/segments', { token: valid })).status).toBe(200)
    const before = sim.keystoneValidations()
    const started = Date.now()
    const statuses: number[] = []
    for (let batch = 0; batch < 10; batch++) {
      const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => flooded.call('GET', '/v1/segments', { token: `gAAAAAbogus-${batch}-${i}-${Math.random()}` })))
      statuses.push(...rs.map((r) => r.status))
    }
    const seconds = (Date.now() - started) / 1000
    const asked = sim.keystoneValidations() - before
    // Burst 5, then 1 a second: 200 bogus tokens reach Keystone a handful of times, not 200.
    expect(asked).toBeLessThanOrEqual(5 + Math.ceil(seconds) + 1)
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true)
    expect(statuses).toContain(429)

    // The valid token is still cached: served without asking Keystone again.
    const mid = sim.keystoneValidations()
    expect((await flooded.call('GET', '/v1/segments', { token: valid })).status).toBe(200)
    expect(sim.keystoneValidations()).toBe(mid)

    // A bogus token repeated is answered from the negative cache: Keystone asked once at most.
    await new Promise((r) => setTimeout(r, 2_000)) // let the bucket refill a little
    const repeat = `gAAAAArepeat-${Math.random()}`
    const beforeRepeat = sim.keystoneValidations()
    for (let i = 0; i < 10; i++) expect((await flooded.call('GET', '/v1/segments', { token: repeat })).status).toBe(401)
    expect(sim.keystoneValidations() - beforeRepeat).toBeLessThanOrEqual(1)
  })
})
