import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * The signature of a push (docs/webhooks.md), Stripe's scheme: the header
 * `X-Lazarus-Signature: t=<unix seconds>,v1=<hex>` where `<hex>` is HMAC-SHA256, keyed with the
 * shared secret, of `<t>.<body>` (the raw body bytes as sent). The time is signed with the body,
 * so a receiver that refuses a `t` too far from its clock refuses a replayed push. This module
 * has no dependency but node:crypto: a receiver written in TypeScript may copy it.
 */
export const SIGNATURE_HEADER = 'X-Lazarus-Signature'

const mac = (secret: string, t: number, body: string): string => createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')

/** The header value for `body` signed at `t` (unix seconds). */
export const signPush = (secret: string, body: string, t: number): string => `t=${t},v1=${mac(secret, t, body)}`

export type Verification = { ok: true; t: number } | { ok: false; reason: string }

/**
 * For receivers: whether `header` signs `body` with `secret` at a time within `toleranceS` of
 * `nowS` (unix seconds). Any `v1=` of the header may match (several during a secret rotation).
 */
export const verifyPush = (secret: string, body: string, header: string | null | undefined, nowS: number, toleranceS = 300): Verification => {
  if (!header) return { ok: false, reason: 'no signature header' }
  const parts = header.split(',').map((p) => p.trim().split('='))
  const ts = parts.filter(([k]) => k === 't').map(([, v]) => v)
  const sigs = parts.filter(([k, v]) => k === 'v1' && v !== undefined && /^[0-9a-f]{64}$/.test(v)).map(([, v]) => v as string)
  if (ts.length !== 1 || !/^\d{1,12}$/.test(ts[0] ?? '')) return { ok: false, reason: 'no valid t=' }
  const t = Number(ts[0])
  if (Math.abs(nowS - t) > toleranceS) return { ok: false, reason: `t=${t} is more than ${toleranceS} s from now` }
  const expected = Buffer.from(mac(secret, t, body), 'hex')
  if (!sigs.some((s) => timingSafeEqual(Buffer.from(s, 'hex'), expected))) return { ok: false, reason: 'no v1= matches' }
  return { ok: true, t }
}
