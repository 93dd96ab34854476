import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server, type TLSSocket } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBus } from '../index.js'
import { createRabbitBus } from './rabbit-bus.js'
import { amqpTlsFromEnv, checkAmqpTls, tlsSocketOptions } from './tls.js'

describe('AMQP TLS settings', () => {
  it('reads the three files from the environment, empty meaning unset', () => {
    expect(amqpTlsFromEnv({})).toEqual({})
    expect(amqpTlsFromEnv({ AMQP_TLS_CA_FILE: '/etc/lazarus/ca.pem', AMQP_TLS_CERT_FILE: '', AMQP_TLS_KEY_FILE: undefined })).toEqual({ caFile: '/etc/lazarus/ca.pem' })
    expect(amqpTlsFromEnv({ AMQP_TLS_CA_FILE: 'ca', AMQP_TLS_CERT_FILE: 'c', AMQP_TLS_KEY_FILE: 'k' })).toEqual({ caFile: 'ca', certFile: 'c', keyFile: 'k' })
    expect(() => amqpTlsFromEnv({ AMQP_TLS_KEY_FILE: '   ' })).toThrow(/AMQP_TLS_KEY_FILE/)
  })

  it('refuses a certificate without its key, and TLS files with a plain amqp:// URL', () => {
    expect(() => checkAmqpTls({ certFile: 'c' }, ['amqps://h/v'])).toThrow(/AMQP_TLS_CERT_FILE and AMQP_TLS_KEY_FILE/)
    expect(() => checkAmqpTls({ keyFile: 'k' }, ['amqps://h/v'])).toThrow(/go together/)
    expect(() => checkAmqpTls({ caFile: 'ca' }, ['amqps://a/v', 'amqp://b/v'])).toThrow(/not amqps/)
    expect(() => checkAmqpTls({ caFile: 'ca', certFile: 'c', keyFile: 'k' }, ['amqps://a/v', 'AMQPS://b/v'])).not.toThrow()
    expect(() => checkAmqpTls({}, ['amqp://a/v'])).not.toThrow()
  })

  it('builds the socket options from the files, naming the setting of an unreadable one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lazarus-tls-opts-'))
    try {
      writeFileSync(join(dir, 'ca.pem'), 'CA')
      writeFileSync(join(dir, 'c.pem'), 'CERT')
      writeFileSync(join(dir, 'k.pem'), 'KEY')
      const o = tlsSocketOptions({ caFile: join(dir, 'ca.pem'), certFile: join(dir, 'c.pem'), keyFile: join(dir, 'k.pem') })
      expect(o.ca?.map(String)).toEqual(['CA'])
      expect(String(o.cert)).toBe('CERT')
      expect(String(o.key)).toBe('KEY')
      expect(tlsSocketOptions({})).toEqual({})
      expect(() => tlsSocketOptions({ caFile: join(dir, 'missing.pem') })).toThrow(/cannot read AMQP_TLS_CA_FILE .*missing\.pem/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

/**
 * The options reach the TLS handshake: a TLS server that demands a client certificate
 * signed by the test CA stands in for the broker's TLS listener (the shared broker has
 * none, and a second one would be slow to start). The AMQP handshake that follows fails,
 * as it must: the server speaks no AMQP.
 */
describe('amqps:// connections with AMQP_TLS_* files', () => {
  let dir: string
  let server: Server
  let port: number
  const seen: { cn: string | undefined; authorized: boolean }[] = []
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  const issue = (name: string, cn: string, ca: string, ext?: string) => {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`)
    if (ext) writeFileSync(join(dir, `${name}.ext`), ext)
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.pem`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-days',
      '1',
      '-out',
      `${name}.pem`,
      ...(ext ? ['-extfile', `${name}.ext`] : []),
    )
  }
  const file = (f: string) => join(dir, f)

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lazarus-tls-'))
    for (const ca of ['ca', 'other-ca']) ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${ca}.key`, '-subj', `/CN=${ca}`, '-days', '1', '-out', `${ca}.pem`)
    issue('broker', 'localhost', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
    issue('api', 'lazarus-api', 'ca')
    server = createServer(
      { key: readFileSync(file('broker.key')), cert: readFileSync(file('broker.pem')), ca: readFileSync(file('ca.pem')), requestCert: true, rejectUnauthorized: true },
      (s: TLSSocket) => {
        seen.push({ cn: (s.getPeerCertificate().subject as { CN?: string } | undefined)?.CN, authorized: s.authorized })
        s.destroy()
      },
    )
    server.on('tlsClientError', () => undefined)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as { port: number }).port
  }, 60_000)
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve))
    rmSync(dir, { recursive: true, force: true })
  })

  it('verifies the broker against AMQP_TLS_CA_FILE and presents the client certificate', async () => {
    seen.length = 0
    const env = { AMQP_TLS_CA_FILE: file('ca.pem'), AMQP_TLS_CERT_FILE: file('api.pem'), AMQP_TLS_KEY_FILE: file('api.key') }
    await expect(createRabbitBus({ url: `amqps://u:p@127.0.0.1:${port}/v`, tls: amqpTlsFromEnv(env) })).rejects.toThrow()
    expect(seen).toEqual([{ cn: 'lazarus-api', authorized: true }])
  })

  it('refuses a broker whose certificate the CA file did not sign', async () => {
    seen.length = 0
    const tls = { caFile: file('other-ca.pem'), certFile: file('api.pem'), keyFile: file('api.key') }
    await expect(createRabbitBus({ url: `amqps://u:p@127.0.0.1:${port}/v`, tls })).rejects.toThrow(/self.signed|unable to verify|certificate/i)
    expect(seen).toEqual([])
  })

  it('createBus takes the files from the environment and refuses them with amqp://', async () => {
    const saved = { ...process.env }
    try {
      process.env['AMQP_TLS_CA_FILE'] = file('ca.pem')
      await expect(createBus(`amqp://u:p@127.0.0.1:${port}/v`)).rejects.toThrow(/not amqps/)
      seen.length = 0
      process.env['AMQP_TLS_CERT_FILE'] = file('api.pem')
      process.env['AMQP_TLS_KEY_FILE'] = file('api.key')
      await expect(createBus(`amqps://u:p@127.0.0.1:${port}/v`)).rejects.toThrow()
      expect(seen).toEqual([{ cn: 'lazarus-api', authorized: true }])
    } finally {
      for (const k of ['AMQP_TLS_CA_FILE', 'AMQP_TLS_CERT_FILE', 'AMQP_TLS_KEY_FILE']) {
        if (saved[k] === undefined) delete process.env[k]
        else process.env[k] = saved[k]
      }
    }
  })
})
