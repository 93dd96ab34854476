import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { parseControlAttributes, type PowerSettings } from '../../domain/control-attributes.js'
import { testBmcSecretDir, writeBmcSecret } from '../../testing/bmc-secrets.js'
import { createPowerDriver, PowerConfigError, PowerDeviceError, type DriverOptions } from './index.js'

/** The fencer's secret settings in these tests: password files under the test's BMC secret directory. */
const secrets = (o: Partial<DriverOptions> = {}): Partial<DriverOptions> => ({ secretDir: testBmcSecretDir(), requestTimeoutMs: 2000, ...o })
/** `password_file=` of a file holding `password`. */
const pw = (password: string, name = `redfish-${password}`) => `password_file=${writeBmcSecret(name, password)}`

/** A small BMC: one system, Basic auth, a power state and a switchable fault. */
const bmc = {
  power: 'On' as 'On' | 'Off',
  fault: 'none' as 'none' | 'refuse' | 'hang',
  requests: [] as { method: string; path: string; auth: string | undefined; body: unknown }[],
}
let server: Server
let base: string

const handle = (req: IncomingMessage, res: ServerResponse, body: string) => {
  bmc.requests.push({ method: req.method ?? '', path: req.url ?? '', auth: req.headers.authorization, body: body ? JSON.parse(body) : undefined })
  if (bmc.fault === 'hang') return // never answers
  const json = (status: number, doc: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(doc))
  if (req.headers.authorization !== `Basic ${Buffer.from('admin:secret').toString('base64')}`) return json(401, { error: { message: 'bad credentials' } })
  if (req.method === 'GET' && req.url === '/redfish/v1/Systems') return json(200, { Members: [{ '@odata.id': '/redfish/v1/Systems/node-1' }] })
  if (req.method === 'GET' && req.url === '/redfish/v1/Systems/node-1') {
    return json(200, { PowerState: bmc.power, Actions: { '#ComputerSystem.Reset': { target: '/redfish/v1/Systems/node-1/Actions/ComputerSystem.Reset' } } })
  }
  if (req.method === 'POST' && req.url === '/redfish/v1/Systems/node-1/Actions/ComputerSystem.Reset') {
    if (bmc.fault === 'refuse') return json(500, { error: { message: 'reset refused by BMC' } })
    const type = (JSON.parse(body) as { ResetType: string }).ResetType
    bmc.power = type === 'ForceOff' ? 'Off' : 'On'
    return res.writeHead(204).end()
  }
  return json(404, { error: { message: 'not found' } })
}

const settings = (text: string): PowerSettings => {
  const p = parseControlAttributes(text)
  if (!p.ok) throw new Error(p.error)
  return p.settings
}

describe('redfish power driver', () => {
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => handle(req, res, body))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })
  beforeEach(() => {
    bmc.power = 'On'
    bmc.fault = 'none'
    bmc.requests = []
  })

  const driver = (extra = '', timeoutMs = 2000) =>
    createPowerDriver(
      settings(`driver=redfish address=${base}/redfish/v1/Systems/node-1 username=admin ${pw('secret')} insecure_http=true ${extra}`),
      secrets({ requestTimeoutMs: timeoutMs }),
    )

  it('reads the power state and forces the host off with Basic auth', async () => {
    const d = driver()
    expect(await d.status()).toBe('on')
    await d.powerOff()
    expect(await d.status()).toBe('off')
    const post = bmc.requests.find((r) => r.method === 'POST')
    expect(post).toMatchObject({ path: '/redfish/v1/Systems/node-1/Actions/ComputerSystem.Reset', body: { ResetType: 'ForceOff' } })
    expect(post?.auth).toBe(`Basic ${Buffer.from('admin:secret').toString('base64')}`)
    await d.powerOn()
    expect(await d.status()).toBe('on')
  })

  it('finds the only system behind a bare BMC address', async () => {
    const d = createPowerDriver(settings(`driver=redfish address=${base} username=admin ${pw('secret')} insecure_http=true`), secrets())
    expect(await d.status()).toBe('on')
    expect(bmc.requests.map((r) => r.path)).toEqual(['/redfish/v1/Systems', '/redfish/v1/Systems/node-1'])
  })

  it('reports a refusal with the BMC message', async () => {
    bmc.fault = 'refuse'
    await expect(driver().powerOff()).rejects.toThrow(/refused ForceOff: HTTP 500: reset refused by BMC/)
  })

  it('gives up on a BMC that does not answer within the request timeout', async () => {
    bmc.fault = 'hang'
    const started = Date.now()
    const err = await driver('', 200)
      .powerOff()
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PowerDeviceError)
    expect((err as Error).message).toMatch(/did not answer POST .* within 200 ms/)
    expect(Date.now() - started).toBeLessThan(1500)
  })

  it('reports wrong credentials', async () => {
    const d = createPowerDriver(settings(`driver=redfish address=${base}/redfish/v1/Systems/node-1 username=admin ${pw('wrong')} insecure_http=true`), secrets())
    await expect(d.status()).rejects.toThrow(/HTTP 401: bad credentials/)
  })

  it('takes the password from an allowed environment variable or a file', async () => {
    const env = { BMC_PW: 'secret' }
    const d = createPowerDriver(
      settings(`driver=redfish address=${base}/redfish/v1/Systems/node-1 username=admin password_env=BMC_PW insecure_http=true`),
      secrets({ env, passwordEnvAllow: ['BMC_PW'] }),
    )
    expect(await d.status()).toBe('on')
    const f = createPowerDriver(settings(`driver=redfish address=${base}/redfish/v1/Systems/node-1 username=admin ${pw('secret')} insecure_http=true`), secrets())
    expect(await f.status()).toBe('on')
  })

  it.each([
    ['driver=redfish', /needs control attribute "address"/],
    ['driver=redfish address=ftp://bmc', /"address" must be an http\(s\) URL/],
    ['driver=redfish address=bmc password_env=NOPE_NOT_SET', /"password_env": NOPE_NOT_SET is not an allowed BMC password variable/],
    ['driver=redfish address=bmc password=hunter2', /"password": a BMC password written in the control attributes is refused/],
    ['driver=redfish address=https://admin:hunter2@bmc', /"address" holds a password/],
    ['driver=redfish address=http://bmc', /"address" is plain http:\/\/.*insecure_http=true/],
    ['driver=redfish address=https://bmc insecure_http=maybe', /"insecure_http" must be true or false/],
    ['driver=redfish address=bmc lanplus=1', /"lanplus" is not known to the redfish driver/],
    ['driver=snmp address=bmc', /"driver": snmp is not supported \(supported: redfish, ipmi, fence_agent, none\)/],
    ['address=bmc', /name no power driver/],
  ])('refuses bad settings %j with a message naming the attribute', (text, message) => {
    expect(() => createPowerDriver(settings(text), secrets({ env: {} }))).toThrow(PowerConfigError)
    expect(() => createPowerDriver(settings(text), secrets({ env: {} }))).toThrow(message)
    expect(() => createPowerDriver(settings(text), secrets({ env: {} }))).not.toThrow(/hunter2/)
  })
})

describe('redfish power driver over TLS', () => {
  let tls: import('node:https').Server
  let url: string
  beforeAll(async () => {
    const { createServer: createHttpsServer } = await import('node:https')
    const { readFileSync } = await import('node:fs')
    const dir = new URL('../../testing/', import.meta.url)
    // A self-signed certificate, as many BMCs ship.
    tls = createHttpsServer({ key: readFileSync(new URL('bmc-test-key.pem', dir)), cert: readFileSync(new URL('bmc-test-cert.pem', dir)) }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ PowerState: 'Off' }))
    })
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r))
    url = `https://127.0.0.1:${(tls.address() as AddressInfo).port}/redfish/v1/Systems/1`
  })
  afterAll(async () => {
    tls.closeAllConnections()
    await new Promise((r) => tls.close(r))
  })

  it('verifies the certificate by default', async () => {
    const d = createPowerDriver(settings(`driver=redfish address=${url} username=a ${pw('b')}`), secrets())
    await expect(d.status()).rejects.toThrow(/self[- ]signed certificate/)
  })

  it('accepts an unverified certificate when the host says verify_tls=false', async () => {
    const d = createPowerDriver(settings(`driver=redfish address=${url} username=a ${pw('b')} verify_tls=false`), secrets())
    expect(await d.status()).toBe('off')
  })
})
