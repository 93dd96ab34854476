import { readFileSync } from 'node:fs'
import * as z from 'zod'
import { errorText } from '@lazarus/runtime'

/**
 * TLS towards RabbitMQ (`amqps://` URLs): the files, by path, of the CA that signed the
 * brokers' certificates and of this service's client certificate and key (for brokers that
 * verify peers, `ssl_options.verify = verify_peer`). Absent: the system CAs, no client
 * certificate. Read at every connect, so a renewed certificate is taken on the next one.
 */
export interface AmqpTls {
  caFile?: string
  certFile?: string
  keyFile?: string
}

/** The settings, by environment variable. */
export const AMQP_TLS_SETTINGS = { caFile: 'AMQP_TLS_CA_FILE', certFile: 'AMQP_TLS_CERT_FILE', keyFile: 'AMQP_TLS_KEY_FILE' } as const

const path = z.string().trim().min(1).optional()

/**
 * The TLS settings of every service, from its environment. One place, shared by all:
 * `createBus` reads them when not given. An empty variable counts as unset.
 */
export const amqpTlsFromEnv = (env: NodeJS.ProcessEnv = process.env): AmqpTls => {
  const tls: AmqpTls = {}
  for (const [key, name] of Object.entries(AMQP_TLS_SETTINGS) as [keyof AmqpTls, string][]) {
    const raw = env[name]
    if (raw === undefined || raw === '') continue
    const parsed = path.safeParse(raw)
    if (!parsed.success || parsed.data === undefined) throw new Error(`invalid configuration: ${name}: a file path`)
    tls[key] = parsed.data
  }
  return tls
}

const given = (tls: AmqpTls): boolean => tls.caFile !== undefined || tls.certFile !== undefined || tls.keyFile !== undefined

/**
 * Refuses settings that would not do what they say: a client certificate without its key
 * (or the reverse), or TLS files with a plain `amqp://` URL, which would send the
 * credentials in clear while the operator believes the link is encrypted.
 */
export const checkAmqpTls = (tls: AmqpTls, urls: readonly string[]): void => {
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new Error(`invalid configuration: ${AMQP_TLS_SETTINGS.certFile} and ${AMQP_TLS_SETTINGS.keyFile} go together (a client certificate and its key)`)
  }
  if (!given(tls)) return
  const plain = urls.filter((u) => !/^amqps:\/\//i.test(u))
  if (plain.length > 0) {
    throw new Error(`invalid configuration: AMQP_TLS_* files are set but ${plain.length} broker URL(s) are not amqps://: the connection would not be encrypted`)
  }
}

/** A file named by a setting, or an error that names the setting. */
const readSetting = (name: string, file: string, read: (f: string) => Buffer): Buffer => {
  try {
    return read(file)
  } catch (err) {
    throw new Error(`cannot read ${name} ${file}: ${errorText(err)}`, { cause: err })
  }
}

/** The options amqplib hands to `tls.connect` for an `amqps://` URL. */
export interface TlsSocketOptions {
  ca?: Buffer[]
  cert?: Buffer
  key?: Buffer
}

export const tlsSocketOptions = (tls: AmqpTls, read: (f: string) => Buffer = (f) => readFileSync(f)): TlsSocketOptions => ({
  ...(tls.caFile !== undefined && { ca: [readSetting(AMQP_TLS_SETTINGS.caFile, tls.caFile, read)] }),
  ...(tls.certFile !== undefined && { cert: readSetting(AMQP_TLS_SETTINGS.certFile, tls.certFile, read) }),
  ...(tls.keyFile !== undefined && { key: readSetting(AMQP_TLS_SETTINGS.keyFile, tls.keyFile, read) }),
})
