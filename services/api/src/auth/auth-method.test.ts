import { describe, expect, it } from 'vitest'
import { chooseAuthMethod } from './auth-method.js'

describe('choosing how callers are known', () => {
  it('given nothing, when the api starts, then it refuses, naming the ways in', () => {
    expect(() => chooseAuthMethod({})).toThrow(/KEYSTONE_URL.*API_KEYS.*AUTH=none/s)
  })

  it('given KEYSTONE_URL or API_KEYS, when AUTH is unset, then that method (Keystone first)', () => {
    expect(chooseAuthMethod({ keystoneUrl: 'http://k/v3' })).toBe('keystone')
    expect(chooseAuthMethod({ apiKeys: 'k:admin' })).toBe('api-keys')
    expect(chooseAuthMethod({ keystoneUrl: 'http://k/v3', apiKeys: 'k:admin' })).toBe('keystone')
  })

  it('given AUTH=none, when nothing else is set, then no auth; beside keys or Keystone, refused', () => {
    expect(chooseAuthMethod({ auth: 'none' })).toBe('none')
    expect(() => chooseAuthMethod({ auth: 'none', apiKeys: 'k:admin' })).toThrow(/AUTH=none, but/)
    expect(() => chooseAuthMethod({ auth: 'none', keystoneUrl: 'http://k/v3' })).toThrow(/AUTH=none, but/)
  })

  it('given AUTH naming a method, when its setting is missing, then refused', () => {
    expect(() => chooseAuthMethod({ auth: 'keystone', apiKeys: 'k:admin' })).toThrow(/needs KEYSTONE_URL/)
    expect(() => chooseAuthMethod({ auth: 'api-keys', keystoneUrl: 'http://k/v3' })).toThrow(/needs API_KEYS/)
    expect(chooseAuthMethod({ auth: 'api-keys', apiKeys: 'k:admin', keystoneUrl: 'http://k/v3' })).toBe('api-keys')
  })
})
