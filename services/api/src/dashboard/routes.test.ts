import { makeEvent } from '@lazarus/contracts'
import { afterEach, describe, expect, it } from 'vitest'
import { startHarness, type Harness } from '../testing/harness.js'

const harnesses: Harness[] = []
const start = async (config: Parameters<typeof startHarness>[0] = {}) => {
  const h = await startHarness({ ...config, config: { ssePollMs: 50, ...config.config } })
  harnesses.push(h)
  return h
}
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()))
})

const seed = async (h: Harness, headers: Record<string, string> = {}) => {
  const s = await h.request('POST', '/v1/segments', { segment: { name: 'seg', recovery_method: 'auto', service_type: 'COMPUTE' } }, headers)
  for (const name of ['c1', 'c2']) {
    await h.request('POST', `/v1/segments/${s.body.segment.uuid}/hosts`, { host: { name, type: 'COMPUTE', control_attributes: '' } }, headers)
  }
  const n = await h.request(
    'POST',
    '/v1/notifications',
    { notification: { type: 'COMPUTE_HOST', hostname: 'c1', generated_time: new Date().toISOString(), payload: { event: 'STOPPED' } } },
    headers,
  )
  return n.body.notification.notification_uuid as string
}

describe('dashboard routes', () => {
  it('serves the page at /dashboard/ with a strict CSP, and its files', async () => {
    const h = await start()
    const bare = await h.api.app.request('/dashboard')
    expect(bare.status).toBe(308)
    expect(bare.headers.get('location')).toBe('/dashboard/')
    const page = await h.api.app.request('/dashboard/')
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/text\/html/)
    const csp = page.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("script-src 'self'")
    // The page's actions (release, resume) are fetches to the api itself: nothing inline, no other origin.
    expect(csp).toContain("connect-src 'self'")
    expect(csp).toContain("form-action 'none'")
    expect(csp).not.toContain('unsafe-inline')
    expect(csp).not.toContain('unsafe-eval')
    expect(await page.text()).toContain('<script type="module" src="assets/dashboard.js">')
    for (const [path, type] of [
      ['/dashboard/assets/dashboard.js', /javascript/],
      ['/dashboard/assets/dashboard.css', /text\/css/],
    ] as const) {
      const r = await h.api.app.request(path)
      expect(r.status, path).toBe(200)
      expect(r.headers.get('content-type')).toMatch(type)
    }
    expect((await h.api.app.request('/dashboard/assets/other.js')).status).toBe(404)
  })

  it('gives a snapshot with host states, recoveries in flight and history', async () => {
    const h = await start()
    const id = await seed(h)
    await h.bus.publish(
      makeEvent({
        type: 'recovery.progress.v1',
        source: 'test',
        correlationId: id,
        payload: { notificationId: id, task: 'power_off_host', state: 'running', message: 'powering off', progress: 0.2 },
      }),
    )
    let snap: any
    for (let i = 0; i < 100; i++) {
      snap = (await h.request('GET', '/dashboard/state')).body
      if (snap.recoveries[0]?.steps.length) break
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(snap.segments).toHaveLength(1)
    expect(snap.segments[0].hosts.map((x: any) => [x.name, x.state])).toEqual([
      ['c1', 'fencing'],
      ['c2', 'up'],
    ])
    expect(snap.recoveries).toHaveLength(1)
    expect(snap.recoveries[0]).toMatchObject({ phase: 'fencing', notification: { notification_uuid: id, hostname: 'c1', segment_name: 'seg' } })
    expect(snap.recoveries[0].steps[0]).toMatchObject({ task: 'power_off_host', phase: 'fence', label: 'power off', state: 'running' })
    expect(snap.history.map((n: any) => n.notification_uuid)).toEqual([id])
  })

  it('colours hosts from the alerts the detector raised: isolated, and unconfirmed as suspected', async () => {
    const h = await start()
    const s = await h.request('POST', '/v1/segments', { segment: { name: 'seg', recovery_method: 'auto', service_type: 'COMPUTE' } })
    const segmentId = s.body.segment.uuid as string
    for (const name of ['c1', 'c2', 'c3']) {
      await h.request('POST', `/v1/segments/${segmentId}/hosts`, { host: { name, type: 'COMPUTE', control_attributes: '' } })
    }
    for (const [host, kind] of [
      ['c1', 'isolated'],
      ['c2', 'unconfirmed'],
    ] as const) {
      await h.bus.publish(
        makeEvent({ type: 'alert.raised.v1', source: 'detector', correlationId: `${host}@1`, payload: { kind, severity: 'warning', segmentId, host, message: `${host} ${kind}` } }),
      )
    }
    let snap: any
    for (let i = 0; i < 100; i++) {
      snap = (await h.request('GET', '/dashboard/state')).body
      if (snap.segments[0].hosts.filter((x: any) => x.state !== 'up').length === 2) break
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(snap.segments[0].hosts.map((x: any) => [x.name, x.state, x.note])).toEqual([
      ['c1', 'isolated', 'c1 isolated'],
      ['c2', 'suspected', 'c2 unconfirmed'],
      ['c3', 'up', null],
    ])
  })

  it('shows a segment paused by the storm guard with its held failures, and follows release and resume', async () => {
    const h = await start()
    const s = await h.request('POST', '/v1/segments', { segment: { name: 'storm', recovery_method: 'auto', service_type: 'COMPUTE' } })
    const segmentId = s.body.segment.uuid as string
    for (const name of ['c1', 'c2', 'c3']) {
      await h.request('POST', `/v1/segments/${segmentId}/hosts`, { host: { name, type: 'COMPUTE', control_attributes: '' } })
    }
    const ids: string[] = []
    for (const hostname of ['c1', 'c2', 'c3']) {
      const n = await h.request('POST', '/v1/notifications', {
        notification: { type: 'COMPUTE_HOST', hostname, generated_time: new Date().toISOString(), payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' } },
      })
      expect(n.status).toBe(202)
      ids.push(n.body.notification.notification_uuid as string)
    }
    // 2 of 3 hosts is more than half: the second is held by the storm guard, the third by its pause.
    let seg = (await h.request('GET', '/dashboard/state')).body.segments[0]
    expect(seg.pause).toMatchObject({ by: 'storm_guard', reason: expect.stringMatching(/^storm guard: /), since: expect.any(String) })
    expect(seg.held.map((x: any) => [x.hostname, x.notification_uuid, x.type])).toEqual([
      ['c2', ids[1], 'COMPUTE_HOST'],
      ['c3', ids[2], 'COMPUTE_HOST'],
    ])
    expect(seg.held[0].message).toMatch(/^Held: /)
    const state = (await h.request('GET', '/dashboard/state')).body
    expect(seg.hosts.map((x: any) => [x.name, x.state, x.note?.startsWith('failure held') ?? false])).toEqual([
      ['c1', 'suspected', false],
      ['c2', 'suspected', true],
      ['c3', 'suspected', true],
    ])
    expect(state.history.map((n: any) => [n.hostname, n.held])).toEqual([
      ['c3', true],
      ['c2', true],
      ['c1', false],
    ])

    expect((await h.request('POST', `/v1/notifications/${ids[1]}/release`)).status).toBe(202)
    seg = (await h.request('GET', '/dashboard/state')).body.segments[0]
    expect(seg.held.map((x: any) => x.hostname)).toEqual(['c3'])
    expect(seg.pause?.by).toBe('storm_guard')

    expect((await h.request('POST', `/v1/segments/${segmentId}/resume`)).status).toBe(200)
    seg = (await h.request('GET', '/dashboard/state')).body.segments[0]
    expect(seg).toMatchObject({ pause: null, held: [] })
  })

  it('streams a snapshot at once and again when something changes', async () => {
    const h = await start()
    const res = await h.api.app.request('/dashboard/events')
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/)
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    let text = ''
    const nextSnapshot = async () => {
      for (;;) {
        const end = text.indexOf('\n\n')
        if (end >= 0) {
          const block = text.slice(0, end)
          text = text.slice(end + 2)
          const lines = block.split('\n')
          if (lines.includes('event: snapshot')) return JSON.parse(lines.find((l) => l.startsWith('data: '))!.slice(6))
          continue
        }
        const { value, done } = await reader.read()
        if (done) throw new Error('stream ended')
        text += value
      }
    }
    expect((await nextSnapshot()).segments).toEqual([])
    await seed(h)
    let snap = await nextSnapshot()
    while (snap.history.length === 0 || snap.segments[0]?.hosts.length !== 2) snap = await nextSnapshot()
    expect(snap.segments[0].hosts[0]).toMatchObject({ name: 'c1', state: 'suspected' })
    await reader.cancel()
  })

  it('takes the API keys and the policy for its data, but not for the page, and says whether a token is needed', async () => {
    const h = await start({ config: { apiKeys: 'k-admin:admin,k-read:reader' } })
    expect((await h.request('GET', '/dashboard/')).status).toBe(200)
    expect((await h.request('GET', '/dashboard/state')).status).toBe(401)
    expect((await h.request('GET', '/dashboard/events')).status).toBe(401)
    expect((await h.request('GET', '/dashboard/state', undefined, { 'X-Auth-Token': 'nope' })).status).toBe(401)
    // The dashboard follows the policy (lazarus:dashboard:state, admin only by default).
    expect((await h.request('GET', '/dashboard/state', undefined, { 'X-Auth-Token': 'k-read' })).status).toBe(403)
    expect((await h.request('GET', '/dashboard/state', undefined, { 'X-Auth-Token': 'k-admin' })).status).toBe(200)
    expect((await h.request('GET', '/dashboard/session')).body).toEqual({ auth_required: true, authenticated: false, role: null, capacity: false })
    expect((await h.request('GET', '/dashboard/session', undefined, { 'X-Auth-Token': 'nope' })).body).toMatchObject({ authenticated: false, error: expect.any(String) })
    expect((await h.request('GET', '/dashboard/session', undefined, { 'X-Auth-Token': 'k-read' })).body).toMatchObject({
      authenticated: false,
      error: expect.stringContaining('lazarus:dashboard:state'),
    })
    expect((await h.request('GET', '/dashboard/session', undefined, { 'X-Auth-Token': 'k-admin' })).body).toEqual({
      auth_required: true,
      authenticated: true,
      role: 'admin',
      // No OpenStack credentials: the page asks for no capacity.
      capacity: false,
    })
  })

  it("says the page may read segments' capacity when the api can compute it and the policy lets the caller", async () => {
    const unused = { read: () => Promise.reject(new Error('not read here')) }
    const h = await start({
      inventory: unused,
      config: { apiKeys: 'k-admin:admin,k-read:reader', policy: JSON.stringify({ 'lazarus:dashboard:state': 'rule:admin_api or role:reader' }), capacityRefreshS: 0 },
    })
    expect((await h.request('GET', '/dashboard/session', undefined, { 'X-Auth-Token': 'k-admin' })).body).toMatchObject({ authenticated: true, capacity: true })
    // A reader may watch the dashboard, not read capacity (lazarus:segments:capacity): the page does not ask.
    expect((await h.request('GET', '/dashboard/session', undefined, { 'X-Auth-Token': 'k-read' })).body).toMatchObject({ authenticated: true, capacity: false })
    expect((await h.request('GET', '/dashboard/session')).body).toMatchObject({ authenticated: false, capacity: false })
  })

  it('needs no token when no keys are configured', async () => {
    const h = await start()
    expect((await h.request('GET', '/dashboard/session')).body).toEqual({ auth_required: false, authenticated: true, role: null, capacity: false })
  })
})
