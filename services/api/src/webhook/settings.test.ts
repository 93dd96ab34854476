import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { isLoopback, parseWebhookUrls, readWebhookSecret, urlForLog } from './settings.js'

describe('webhook settings', () => {
  it('takes https anywhere, http on loopback only unless allowed', () => {
    expect(parseWebhookUrls(' https://ops.example/hook , http://127.0.0.1:9/x,http://[::1]:8/y,https://ops.example/hook', false)).toEqual([
      'https://ops.example/hook',
      'http://127.0.0.1:9/x',
      'http://[::1]:8/y',
    ])
    expect(() => parseWebhookUrls('http://ops.example/hook', false)).toThrow(/WEBHOOK_URLS.*WEBHOOK_ALLOW_INSECURE/s)
    expect(parseWebhookUrls('http://ops.example/hook', true)).toEqual(['http://ops.example/hook'])
    expect(() => parseWebhookUrls('ftp://ops.example/hook', true)).toThrow(/neither https nor http/)
    expect(() => parseWebhookUrls('not a url', false)).toThrow(/item 1 is not a URL/)
    expect(parseWebhookUrls(undefined, false)).toEqual([])
    expect(parseWebhookUrls(' , ', false)).toEqual([])
  })

  it('knows loopback', () => {
    expect(['127.0.0.1', '127.3.2.1', '::1', '[::1]', 'localhost'].every(isLoopback)).toBe(true)
    expect(['10.0.0.1', '128.0.0.1', 'example.com', '::2', 'localhost.example.com'].some(isLoopback)).toBe(false)
  })

  it('reads the secret from its file, refusing a short or missing one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lazarus-webhook-'))
    writeFileSync(join(dir, 'ok'), 'a-secret-long-enough-for-hmac\n')
    writeFileSync(join(dir, 'short'), 'short\n')
    expect(readWebhookSecret(join(dir, 'ok'))).toBe('a-secret-long-enough-for-hmac')
    expect(() => readWebhookSecret(join(dir, 'short'))).toThrow(/at least 16/)
    expect(() => readWebhookSecret(join(dir, 'missing'))).toThrow(/cannot read .*ENOENT/)
    expect(() => readWebhookSecret(undefined)).toThrow(/WEBHOOK_SECRET_FILE.*required/s)
  })

  it('logs a URL without its path, query or credentials', () => {
    expect(urlForLog('https://u:p@ops.example:8443/hook?token=x')).toBe('https://ops.example:8443')
  })
})
