import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { signPush, verifyPush } from './signature.js'

const secret = 'a-shared-secret-of-some-length'
const body = '{"id":"x","version":1}'

describe('push signature', () => {
  it('is HMAC-SHA256 of "<t>.<body>" in hex, and verifies', () => {
    const header = signPush(secret, body, 1_700_000_000)
    expect(header).toBe(`t=1700000000,v1=${createHmac('sha256', secret).update(`1700000000.${body}`).digest('hex')}`)
    expect(verifyPush(secret, body, header, 1_700_000_100)).toEqual({ ok: true, t: 1_700_000_000 })
  })

  it('refuses another body, another secret, an old or future time, and malformed headers', () => {
    const header = signPush(secret, body, 1_700_000_000)
    expect(verifyPush(secret, `${body} `, header, 1_700_000_000).ok).toBe(false)
    expect(verifyPush('another-secret-entirely', body, header, 1_700_000_000).ok).toBe(false)
    expect(verifyPush(secret, body, header, 1_700_000_301)).toMatchObject({ ok: false, reason: expect.stringContaining('300 s') })
    expect(verifyPush(secret, body, header, 1_699_999_600).ok).toBe(false)
    for (const bad of [undefined, '', 'v1=abc', 't=1700000000', 't=x,v1=00', `t=1700000000,t=1700000000,${header.split(',')[1]}`]) {
      expect(verifyPush(secret, body, bad, 1_700_000_000).ok).toBe(false)
    }
  })

  it('takes any of several v1= (a rotation)', () => {
    const good = signPush(secret, body, 1_700_000_000).split(',')[1]
    expect(verifyPush(secret, body, `t=1700000000,v1=${'0'.repeat(64)},${good}`, 1_700_000_000).ok).toBe(true)
  })
})
