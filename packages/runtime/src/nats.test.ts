import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from './config.js'
import { createNkeyUser, natsAuthSettings, natsConnectOptions } from './nats.js'
import * as z from 'zod'

const Settings = z.object(natsAuthSettings())
const options = (env: Record<string, string>) => natsConnectOptions(loadConfig(Settings, env))

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lazarus-nats-opts-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('NATS identity settings', () => {
  it('none: no authentication, no TLS', () => {
    expect(options({})).toEqual({ options: {}, auth: 'none', tls: false })
  })

  it('an nkey seed file gives an authenticator; the seed is checked at start', async () => {
    const user = createNkeyUser()
    expect(user.publicKey).toMatch(/^U[A-Z2-7]{55}$/)
    expect(user.seed).toMatch(/^SU/)
    const seedFile = join(dir, 'agent.nk')
    await writeFile(seedFile, `${user.seed}\n`, { mode: 0o600 })
    const o = options({ NATS_NKEY_SEED_FILE: seedFile })
    expect(o.auth).toBe('nkey')
    expect(typeof o.options.authenticator).toBe('function')

    await writeFile(join(dir, 'bad.nk'), 'SUnotaseed')
    expect(() => options({ NATS_NKEY_SEED_FILE: join(dir, 'bad.nk') })).toThrow(/NATS_NKEY_SEED_FILE \(natsNkeySeedFile\): .* does not hold an nkey user seed/)
    expect(() => options({ NATS_NKEY_SEED_FILE: join(dir, 'missing.nk') })).toThrow(/NATS_NKEY_SEED_FILE .*cannot read .*ENOENT/)
  })

  it('user and password (or a password file), token (or a token file)', async () => {
    expect(options({ NATS_USER: 'u', NATS_PASS: 'p' })).toMatchObject({ auth: 'user', options: { user: 'u', pass: 'p' } })
    await writeFile(join(dir, 'pass'), 's3cret\n')
    expect(options({ NATS_USER: 'u', NATS_PASS_FILE: join(dir, 'pass') })).toMatchObject({ options: { user: 'u', pass: 's3cret' } })
    expect(options({ NATS_TOKEN: 't' })).toMatchObject({ auth: 'token', options: { token: 't' } })
    expect(options({ NATS_TOKEN_FILE: join(dir, 'pass') })).toMatchObject({ auth: 'token', options: { token: 's3cret' } })
  })

  it('refuses contradictions, naming the setting', async () => {
    const user = createNkeyUser()
    await writeFile(join(dir, 'a.nk'), user.seed)
    expect(() => options({ NATS_USER: 'u', NATS_TOKEN: 't' })).toThrow(ConfigError)
    expect(() => options({ NATS_USER: 'u', NATS_NKEY_SEED_FILE: join(dir, 'a.nk') })).toThrow(/one way to authenticate/)
    expect(() => options({ NATS_PASS: 'p' })).toThrow(/NATS_PASS \(natsPass\): needs NATS_USER/)
    expect(() => options({ NATS_TLS_CERT_FILE: join(dir, 'a.nk') })).toThrow(/NATS_TLS_KEY_FILE .*go together/)
    await writeFile(join(dir, 'x.creds'), 'nothing')
    expect(() => options({ NATS_CREDS_FILE: join(dir, 'x.creds') })).toThrow(/NATS_CREDS_FILE .*not a \.creds file/)
  })

  it('TLS files are read at start', async () => {
    await writeFile(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\n')
    expect(options({ NATS_TLS_CA_FILE: join(dir, 'ca.pem') })).toMatchObject({ tls: true, options: { tls: { ca: '-----BEGIN CERTIFICATE-----\n' } } })
    await writeFile(join(dir, 'unreadable.pem'), 'x')
    await chmod(join(dir, 'unreadable.pem'), 0o000)
    if (process.getuid?.() !== 0) expect(() => options({ NATS_TLS_CA_FILE: join(dir, 'unreadable.pem') })).toThrow(/NATS_TLS_CA_FILE .*EACCES/)
    expect(() => options({ NATS_TLS_CA_FILE: join(dir, 'nope.pem') })).toThrow(/NATS_TLS_CA_FILE/)
  })
})
