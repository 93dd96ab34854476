import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNode } from '../support/processes.js'
import { ensureApiBuilt, segmentBody, startApiProcess, type ApiProcess } from './api-process.js'

/**
 * Auth is required by default: the api process refuses to start without KEYSTONE_URL or
 * API_KEYS unless AUTH=none says so, and with keys every /v1 request and the dashboard's
 * data need a token.
 */

/** Run the api expecting it to refuse its settings: its exit code and output. */
const refusal = async (env: Record<string, string>): Promise<{ code: number | null; output: string }> => {
  ensureApiBuilt()
  // A RabbitMQ URL nothing listens on: the refusal must come before any connection.
  const proc = startNode('api', 'services/api/dist/main.js', { API_PORT: '0', AMQP_URL: 'amqp://guest:guest@127.0.0.1:1/none', DATABASE_URL: 'memory:', LOG_LEVEL: 'info', ...env })
  const exited = new Promise<number | null>((resolve) => proc.child.once('exit', (code) => resolve(code)))
  const code = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 15_000))])
  if (code === 'running') {
    await proc.stop('SIGKILL')
    return { code: -1, output: proc.lines.join('\n') }
  }
  return { code, output: proc.lines.join('\n') }
}

describe('auth required by default', () => {
  it('refuses to start with no way to authenticate callers, naming AUTH, KEYSTONE_URL and API_KEYS', async () => {
    const r = await refusal({ KEYSTONE_URL: '', API_KEYS: '', AUTH: '' })
    expect(r.code).toBe(1)
    expect(r.output).toMatch(/AUTH/)
    expect(r.output).toMatch(/KEYSTONE_URL/)
    expect(r.output).toMatch(/API_KEYS/)
    expect(r.output).not.toMatch(/api listening/)
  })

  it('refuses AUTH=none beside keys, and a method without its settings', async () => {
    const both = await refusal({ AUTH: 'none', API_KEYS: 'k:admin' })
    expect(both.code).toBe(1)
    expect(both.output).toMatch(/AUTH=none, but KEYSTONE_URL or API_KEYS is set/)
    const keystone = await refusal({ AUTH: 'keystone' })
    expect(keystone.code).toBe(1)
    expect(keystone.output).toMatch(/AUTH=keystone needs KEYSTONE_URL/)
    const unknown = await refusal({ AUTH: 'open-sesame' })
    expect(unknown.code).toBe(1)
    expect(unknown.output).toMatch(/AUTH/)
  })

  describe('running', () => {
    let open: ApiProcess
    let keyed: ApiProcess
    beforeAll(async () => {
      ;[open, keyed] = await Promise.all([
        startApiProcess('auth_none', { AUTH: 'none' }),
        startApiProcess('auth_keys', { API_KEYS: 'sec-admin-key:admin,sec-monitor-key:monitor,sec-reader-key:reader' }),
      ])
    }, 120_000)
    afterAll(async () => {
      await Promise.all([open?.stop(), keyed?.stop()])
    })

    it('with AUTH=none, serves every request and says so in its log', async () => {
      expect(open.proc.lines.join('\n')).toMatch(/AUTH=none: the API serves every request/)
      expect((await open.call('GET', '/v1/segments')).status).toBe(200)
    })

    it('with API keys, needs a token for every /v1 request and the dashboard data, and keeps writes to admins', async () => {
      for (const [method, path, body] of [
        ['GET', '/v1/segments'],
        ['POST', '/v1/segments', segmentBody('anon')],
        ['GET', '/v1/notifications'],
        ['GET', '/v1/alerts'],
        ['GET', '/dashboard/state'],
        ['GET', '/dashboard/events'],
      ] as const) {
        expect((await keyed.call(method, path, { body })).status, `${method} ${path}`).toBe(401)
        expect((await keyed.call(method, path, { body, token: 'sec-admin-ke' })).status, `${method} ${path} with a prefix of a key`).toBe(401)
      }
      expect((await keyed.call('POST', '/v1/segments', { token: 'sec-monitor-key', body: segmentBody('mon') })).status).toBe(403)
      expect((await keyed.call('GET', '/v1/segments', { token: 'sec-reader-key' })).status).toBe(403)
      expect((await keyed.call('GET', '/v1/segments', { token: 'sec-admin-key' })).body.segments).toEqual([])
      // Open to all: version discovery and the dashboard page (it holds no data).
      expect((await keyed.call('GET', '/v1')).status).toBe(200)
      expect((await keyed.call('GET', '/dashboard/')).status).toBe(200)
    })
  })
})
