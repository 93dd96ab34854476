import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OpenStackRequestError } from './errors.js'
import { issueToken } from './keystone.js'
import { resolveOpenStackOptions } from './settings.js'

/**
 * The CA bundle option (OS_CACERT, `cacert` in clouds.yaml): a Keystone over TLS whose
 * certificate a private CA signed (made here with openssl) is trusted with the bundle and
 * refused without it.
 */

describe('CA bundle for TLS to Keystone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lzr-ca-'))
  let server: Server
  let url: string
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })

  beforeAll(async () => {
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=lazarus test CA')
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1')
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n')
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext')
    // Answers a token request as Keystone does (201, X-Subject-Token, a token body).
    server = createServer({ key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) }, (req, res) => {
      req.resume()
      req.on('end', () => {
        res.writeHead(201, { 'Content-Type': 'application/json', 'X-Subject-Token': 'tls-token' })
        res.end(JSON.stringify({ token: { expires_at: new Date(Date.now() + 3_600_000).toISOString(), catalog: [] } }))
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/v3`
  })

  afterAll(async () => {
    await new Promise((r) => server.close(r))
    rmSync(dir, { recursive: true, force: true })
  })

  it('trusts the server with OS_CACERT and refuses it without', async () => {
    const opts = resolveOpenStackOptions({ osAuthUrl: url, osUsername: 'u', osPassword: 'p', osProjectName: 'x', osCacert: join(dir, 'ca.pem') })
    expect(opts.ca).toContain('BEGIN CERTIFICATE')
    expect((await issueToken(opts, 5000)).token).toBe('tls-token')
    const without = await issueToken({ ...opts, ca: undefined }, 5000).catch((e: unknown) => e)
    expect(without).toBeInstanceOf(OpenStackRequestError)
    expect((without as Error).message).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|self.signed|certificate/i)
  })

  it('names an unreadable bundle', () => {
    expect(() => resolveOpenStackOptions({ osAuthUrl: url, osUsername: 'u', osPassword: 'p', osProjectName: 'x', osCacert: join(dir, 'absent.pem') })).toThrow(
      /CA bundle .*absent\.pem .*ENOENT/,
    )
  })
})
