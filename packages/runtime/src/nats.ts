import { readFileSync } from 'node:fs'
import { credsAuthenticator, nkeyAuthenticator, nkeys, type ConnectionOptions } from '@nats-io/transport-node'
import * as z from 'zod'
import { ConfigError, toEnvName } from './config.js'

/*
 * Who a service is on NATS, and how it proves it: one set of settings and one builder of
 * connection options for every service that connects (agent, detector, ingest). Exactly
 * one way to authenticate, or none (a server without authorization):
 * - NATS_NKEY_SEED_FILE: an nkey user seed (`SU...`), as `lazarus nats-config` writes one
 *   per agent; the server knows only the public key;
 * - NATS_CREDS_FILE: a `.creds` file (a user JWT and its seed, from an operator/account setup);
 * - NATS_USER with NATS_PASS or NATS_PASS_FILE;
 * - NATS_TOKEN or NATS_TOKEN_FILE.
 * TLS: NATS_TLS_CA_FILE (verify the server against this CA), NATS_TLS_CERT_FILE with
 * NATS_TLS_KEY_FILE (a client certificate, for servers that verify clients). Any of them
 * turns TLS on; a `tls://` URL does too.
 *
 * Every file is read once at start: a missing or malformed one stops the service with a
 * message naming the setting.
 */

const file = () => z.string().min(1).optional()

/** The NATS identity and TLS settings, to spread into a service's settings schema. */
export const natsAuthSettings = () => ({
  natsUser: z.string().min(1).optional().describe('NATS user name (with NATS_PASS or NATS_PASS_FILE).'),
  natsPass: z.string().min(1).optional().describe('NATS password; prefer NATS_PASS_FILE.'),
  natsPassFile: file().describe('File holding the NATS password.'),
  natsToken: z.string().min(1).optional().describe('NATS token; prefer NATS_TOKEN_FILE.'),
  natsTokenFile: file().describe('File holding the NATS token.'),
  natsNkeySeedFile: file().describe('NKey seed file (the identity an operator gave this process).'),
  natsCredsFile: file().describe('NATS .creds file (JWT and NKey seed).'),
  natsTlsCaFile: file().describe('CA bundle that verifies the NATS server (turns TLS on).'),
  natsTlsCertFile: file().describe('Client certificate for NATS mutual TLS.'),
  natsTlsKeyFile: file().describe('Client key for NATS mutual TLS.'),
})

const NatsAuthSettings = z.object(natsAuthSettings())
export type NatsAuthSettings = z.infer<typeof NatsAuthSettings>

/** What decides the identity a connection uses; for logs (never the secret itself). */
export type NatsAuthKind = 'none' | 'nkey' | 'creds' | 'user' | 'token'

const env = (key: keyof NatsAuthSettings) => toEnvName(key)

const bad = (key: keyof NatsAuthSettings, why: string): never => {
  throw new ConfigError(`invalid configuration:\n  ${env(key)} (${key}): ${why}`)
}

const read = (key: keyof NatsAuthSettings, path: string): Buffer => {
  try {
    return readFileSync(path)
  } catch (err) {
    return bad(key, `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
}

const readText = (key: keyof NatsAuthSettings, path: string): string => {
  const text = read(key, path).toString('utf8').trim()
  if (text === '') bad(key, `${path} is empty`)
  return text
}

/**
 * Connection options for `connect()` from the settings: authentication and TLS only (the
 * caller adds servers, name and reconnection). Throws a ConfigError naming the setting
 * when the settings contradict each other or a file cannot be used.
 */
export const natsConnectOptions = (s: NatsAuthSettings): { options: Partial<ConnectionOptions>; auth: NatsAuthKind; tls: boolean } => {
  const given = (
    [
      ['nkey', s.natsNkeySeedFile !== undefined, 'natsNkeySeedFile'],
      ['creds', s.natsCredsFile !== undefined, 'natsCredsFile'],
      ['user', s.natsUser !== undefined, 'natsUser'],
      ['token', s.natsToken !== undefined || s.natsTokenFile !== undefined, 'natsToken'],
    ] as const
  ).filter(([, on]) => on)
  if (given.length > 1) {
    bad(given[1]![2], `one way to authenticate to NATS at a time; also set: ${given.map(([, , k]) => env(k)).join(', ')}`)
  }
  if ((s.natsPass !== undefined || s.natsPassFile !== undefined) && s.natsUser === undefined) bad('natsPass', 'needs NATS_USER')
  if (s.natsPass !== undefined && s.natsPassFile !== undefined) bad('natsPassFile', 'set NATS_PASS or NATS_PASS_FILE, not both')
  if (s.natsToken !== undefined && s.natsTokenFile !== undefined) bad('natsTokenFile', 'set NATS_TOKEN or NATS_TOKEN_FILE, not both')
  if ((s.natsTlsCertFile === undefined) !== (s.natsTlsKeyFile === undefined)) {
    bad(s.natsTlsCertFile === undefined ? 'natsTlsCertFile' : 'natsTlsKeyFile', 'NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE go together')
  }

  const options: Partial<ConnectionOptions> = {}
  let auth: NatsAuthKind = 'none'
  if (s.natsNkeySeedFile !== undefined) {
    const seed = readText('natsNkeySeedFile', s.natsNkeySeedFile)
    try {
      const kp = nkeys.fromSeed(new TextEncoder().encode(seed))
      if (!kp.getPublicKey().startsWith('U')) throw new Error('not a user seed')
    } catch {
      bad('natsNkeySeedFile', `${s.natsNkeySeedFile} does not hold an nkey user seed (SU...)`)
    }
    options.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed))
    auth = 'nkey'
  } else if (s.natsCredsFile !== undefined) {
    const creds = read('natsCredsFile', s.natsCredsFile)
    if (!/-----BEGIN NATS USER JWT-----/.test(creds.toString('utf8')) || !/-----BEGIN USER NKEY SEED-----/.test(creds.toString('utf8'))) {
      bad('natsCredsFile', `${s.natsCredsFile} is not a .creds file (a user JWT and an nkey seed)`)
    }
    options.authenticator = credsAuthenticator(new Uint8Array(creds))
    auth = 'creds'
  } else if (s.natsUser !== undefined) {
    options.user = s.natsUser
    options.pass = s.natsPassFile !== undefined ? readText('natsPassFile', s.natsPassFile) : (s.natsPass ?? '')
    auth = 'user'
  } else if (s.natsToken !== undefined || s.natsTokenFile !== undefined) {
    options.token = s.natsTokenFile !== undefined ? readText('natsTokenFile', s.natsTokenFile) : s.natsToken!
    auth = 'token'
  }

  const tls = s.natsTlsCaFile !== undefined || s.natsTlsCertFile !== undefined
  if (tls) {
    // Read here so that a bad path stops the service at start, naming the setting.
    options.tls = {
      ...(s.natsTlsCaFile !== undefined && { ca: read('natsTlsCaFile', s.natsTlsCaFile).toString('utf8') }),
      ...(s.natsTlsCertFile !== undefined && { cert: read('natsTlsCertFile', s.natsTlsCertFile).toString('utf8') }),
      ...(s.natsTlsKeyFile !== undefined && { key: read('natsTlsKeyFile', s.natsTlsKeyFile).toString('utf8') }),
    }
  }
  return { options, auth, tls }
}

/** A new nkey user: its public key (for the server's configuration) and its seed (for the client's NATS_NKEY_SEED_FILE). */
export const createNkeyUser = (): { publicKey: string; seed: string } => {
  const kp = nkeys.createUser()
  return { publicKey: kp.getPublicKey(), seed: new TextDecoder().decode(kp.getSeed()) }
}

/** The public key of an nkey user seed (`SU...`); throws when it is not one. */
export const nkeyUserPublicKey = (seed: string): string => {
  const kp = nkeys.fromSeed(new TextEncoder().encode(seed.trim()))
  const pub = kp.getPublicKey()
  if (!pub.startsWith('U')) throw new Error('not an nkey user seed')
  return pub
}
