import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { runCli } from '../run.js'

/**
 * `lazarus import masakari` in front of a Masakari (and Keystone) that answer badly: each
 * refusal names what is wrong, exits with its code, and nothing reaches Lazarus. One local
 * HTTP server plays Keystone and Masakari (its answers are the hostile input here); another
 * stands for the Lazarus api and records every request it gets.
 */

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void

let upstream: Server
let lazarus: Server
let upstreamUrl: string
let lazarusUrl: string
let handler: Handler
let lazarusRequests: string[]

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

const listen = async (server: Server): Promise<string> => {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** Keystone's token answer, with `catalog` as given. */
const token = (res: ServerResponse, catalog: unknown) =>
  json(
    res,
    201,
    { token: { expires_at: new Date(Date.now() + 3_600_000).toISOString(), issued_at: new Date().toISOString(), catalog, project: { id: 'p1', name: 'admin' } } },
    { 'x-subject-token': 'tok-1' },
  )

const catalogWithMasakari = () => [{ type: 'instance-ha', name: 'masakari', endpoints: [{ interface: 'public', region_id: 'RegionOne', url: `${upstreamUrl}/v1/p1` }] }]

beforeAll(async () => {
  upstream = createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => (body += d.toString()))
    req.on('end', () => handler(req, res, body))
  })
  lazarus = createServer((req, res) => {
    lazarusRequests.push(`${req.method} ${req.url}`)
    json(res, 200, { segments: [] })
  })
  upstreamUrl = await listen(upstream)
  lazarusUrl = await listen(lazarus)
})

afterAll(async () => {
  await new Promise((ok) => upstream.close(ok))
  await new Promise((ok) => lazarus.close(ok))
})

beforeEach(() => {
  lazarusRequests = []
})

const importCli = async (args: string[] = [], envOver: Record<string, string | undefined> = {}) => {
  const out: string[] = []
  const err: string[] = []
  const code = await runCli({
    argv: ['import', 'masakari', ...args],
    env: {
      LAZARUS_URL: lazarusUrl,
      LAZARUS_CLI_CONFIG: '/nonexistent/lazarus-cli.json',
      OS_AUTH_URL: `${upstreamUrl}/v3`,
      OS_USERNAME: 'admin',
      OS_PASSWORD: 'secret',
      OS_PROJECT_NAME: 'admin',
      OS_REGION_NAME: 'RegionOne',
      ...envOver,
    },
    io: { out: (t) => out.push(t), write: (t) => out.push(t), err: (t) => err.push(t), tty: false },
  })
  return { code, out: out.join('\n'), err: err.join('\n') }
}

/** Keystone answers with `catalog`; Masakari's GETs go to `masakari`. */
const serve = (masakari: Handler, catalog = catalogWithMasakari) => {
  handler = (req, res, body) => {
    if (req.method === 'POST' && req.url === '/v3/auth/tokens') return token(res, catalog())
    return masakari(req, res, body)
  }
}

describe('lazarus import masakari refuses what it cannot trust, and writes nothing', () => {
  it("a segment without a name in Masakari's answer: exit 1 naming the field", async () => {
    serve((_req, res) => json(res, 200, { segments: [{ uuid: 's1', recovery_method: 'auto', service_type: 'COMPUTE' }] }))
    const r = await importCli()
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/Masakari GET .*\/v1\/p1\/segments\?limit=500: unexpected answer \(segments\.0\.name: /)
    expect(lazarusRequests).toEqual([])
  })

  it('an answer that is not JSON: exit 1', async () => {
    serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end('<html>proxy login</html>')
    })
    const r = await importCli()
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/unexpected answer .*is that Masakari's v1 API\?/)
    expect(lazarusRequests).toEqual([])
  })

  it('Masakari refuses the token: exit 6 with its message', async () => {
    serve((_req, res) => json(res, 403, { forbidden: { code: 403, message: "Policy doesn't allow os_masakari_api:segments:index" } }))
    const r = await importCli()
    expect(r.code).toBe(6)
    expect(r.err).toContain("403 Forbidden: Policy doesn't allow os_masakari_api:segments:index")
    expect(lazarusRequests).toEqual([])
  })

  it('Keystone refuses the password: exit 6 with what to check', async () => {
    handler = (_req, res) => json(res, 401, { error: { code: 401, message: 'The request you have made requires authentication.' } })
    const r = await importCli()
    expect(r.code).toBe(6)
    expect(r.err).toMatch(/refused a token for user 'admin' \(401\).*--os-password/)
    expect(lazarusRequests).toEqual([])
  })

  it('no instance-ha in the catalog: exit 1 pointing at --masakari-url; with it, the catalog is not needed', async () => {
    serve(
      (req, res) => (req.url?.startsWith('/direct/v1/segments') ? json(res, 200, { segments: [] }) : json(res, 404, {})),
      () => [],
    )
    const r = await importCli()
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/no 'instance-ha' service .*--masakari-url/)
    expect(lazarusRequests).toEqual([])

    const direct = await importCli(['--masakari-url', `${upstreamUrl}/direct/v1/`, '--dry-run'])
    expect(direct.code, direct.err).toBe(0)
    expect(direct.out).toContain('nothing to do')
    // A dry run reads Lazarus and writes nothing.
    expect(lazarusRequests.every((l) => l.startsWith('GET '))).toBe(true)
  })

  it('--segment naming a segment Masakari does not have: exit 4', async () => {
    serve((_req, res) => json(res, 200, { segments: [{ uuid: 's1', name: 'az1', recovery_method: 'auto', service_type: 'COMPUTE' }] }))
    const r = await importCli(['--segment', 'az9'])
    expect(r.code).toBe(4)
    expect(r.err).toContain('has no segment named az9')
    expect(lazarusRequests).toEqual([])
  })

  it('bad flags and missing credentials: exit 2 before any request', async () => {
    handler = () => {
      throw new Error('no request expected')
    }
    expect((await importCli(['--level', '5'])).code).toBe(2)
    const noAuth = await importCli([], { OS_AUTH_URL: undefined })
    expect(noAuth.code).toBe(2)
    expect(noAuth.err).toContain('--os-auth-url (or OS_AUTH_URL) is required')
    expect((await importCli(['--os-interface', 'private'])).code).toBe(2)
    expect(lazarusRequests).toEqual([])
  })
})
