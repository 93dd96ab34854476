import { ConfigError } from '@lazarus/runtime'
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'

/** The shortest shared secret taken (bytes of the file, surrounding whitespace removed). */
export const MIN_SECRET_LENGTH = 16

const LOOPBACK_NAMES = new Set(['localhost', 'localhost.localdomain', 'ip6-localhost'])

/** Whether a URL's host is this machine: 127.0.0.0/8, ::1, localhost. */
export const isLoopback = (hostname: string): boolean => {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (LOOPBACK_NAMES.has(h)) return true
  if (isIP(h) === 4) return h.startsWith('127.')
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h)
  return false
}

/**
 * The endpoints of `WEBHOOK_URLS` (comma-separated): https, or http only on loopback or with
 * `WEBHOOK_ALLOW_INSECURE` (a push carries host names and alerts in clear over http).
 * A malformed list stops the api, naming the setting (never the URL's credentials).
 */
export const parseWebhookUrls = (raw: string | undefined, allowInsecure: boolean): string[] => {
  const items = (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  const out: string[] = []
  items.forEach((item, i) => {
    let u: URL
    try {
      u = new URL(item)
    } catch {
      throw new ConfigError(`invalid configuration:\n  WEBHOOK_URLS (webhookUrls): item ${i + 1} is not a URL`)
    }
    const where = `${u.protocol}//${u.host}`
    if (u.protocol !== 'https:' && u.protocol !== 'http:') {
      throw new ConfigError(`invalid configuration:\n  WEBHOOK_URLS (webhookUrls): item ${i + 1} (${u.protocol}) is neither https nor http`)
    }
    if (u.protocol === 'http:' && !isLoopback(u.hostname) && !allowInsecure) {
      throw new ConfigError(`invalid configuration:\n  WEBHOOK_URLS (webhookUrls): ${where} is http on a host other than loopback: use https, or set WEBHOOK_ALLOW_INSECURE=true`)
    }
    if (!out.includes(u.toString())) out.push(u.toString())
  })
  return out
}

/** The shared secret, from `WEBHOOK_SECRET_FILE`: required with endpoints, at least MIN_SECRET_LENGTH characters. */
export const readWebhookSecret = (file: string | undefined): string => {
  if (!file) throw new ConfigError('invalid configuration:\n  WEBHOOK_SECRET_FILE (webhookSecretFile): required with WEBHOOK_URLS: a file holding the shared signing secret')
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`invalid configuration:\n  WEBHOOK_SECRET_FILE (webhookSecretFile): cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
  }
  const secret = text.trim()
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(`invalid configuration:\n  WEBHOOK_SECRET_FILE (webhookSecretFile): ${file} holds ${secret.length} characters; at least ${MIN_SECRET_LENGTH} are needed`)
  }
  return secret
}

/** How a URL appears in logs: scheme, host and port only (a path or query may hold a token). */
export const urlForLog = (url: string): string => {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}`
  } catch {
    return '(not a URL)'
  }
}
