import { describe, expect, it } from 'vitest'
import { openStackCredentialsGiven } from './settings.js'

describe('openStackCredentialsGiven: one answer to "are OpenStack credentials configured?"', () => {
  const keystone = 'http://keystone.example:5000/v3'
  it('a cloud of clouds.yaml is enough (the file says the rest)', () => {
    expect(openStackCredentialsGiven({ osCloud: 'lazarus' })).toBe(true)
  })
  it('a Keystone with an application credential secret, or a complete user', () => {
    expect(openStackCredentialsGiven({ osAuthUrl: keystone, osApplicationCredentialSecret: 's' })).toBe(true)
    expect(openStackCredentialsGiven({ osAuthUrl: keystone, osUsername: 'u', osPassword: 'p', osProjectName: 'x' })).toBe(true)
  })
  it('an incomplete user, or no Keystone at all, is not', () => {
    expect(openStackCredentialsGiven({ osAuthUrl: keystone, osUsername: 'u', osPassword: 'p' })).toBe(false)
    expect(openStackCredentialsGiven({ osAuthUrl: keystone })).toBe(false)
    expect(openStackCredentialsGiven({ osUsername: 'u', osPassword: 'p', osProjectName: 'x' })).toBe(false)
    expect(openStackCredentialsGiven({})).toBe(false)
  })
  it("a default Keystone (the api's KEYSTONE_URL) stands in for OS_AUTH_URL when given", () => {
    expect(openStackCredentialsGiven({ osUsername: 'u', osPassword: 'p', osProjectName: 'x' }, keystone)).toBe(true)
    expect(openStackCredentialsGiven({ osApplicationCredentialSecret: 's' }, keystone)).toBe(true)
  })
})
