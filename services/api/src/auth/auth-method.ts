import { ConfigError } from '@lazarus/runtime'

export type AuthMethod = 'keystone' | 'api-keys' | 'none'

/**
 * How the api knows its callers. Open access is never a default: without KEYSTONE_URL or
 * API_KEYS the api refuses to start unless AUTH=none says so, because an api that serves
 * writes to anyone who can reach its port is a way to evacuate a cloud. AUTH set to a method
 * whose settings are missing, or AUTH=none beside keys that would then be ignored, is refused too.
 */
export const chooseAuthMethod = (c: { auth?: AuthMethod | undefined; keystoneUrl?: string | undefined; apiKeys?: string | undefined }): AuthMethod => {
  const fail = (why: string): never => {
    throw new ConfigError(`invalid configuration:\n  AUTH (auth): ${why}`)
  }
  if (c.auth === 'none') {
    if (c.keystoneUrl || c.apiKeys) fail('AUTH=none, but KEYSTONE_URL or API_KEYS is set: remove one or the other, so that no one believes the api checks tokens')
    return 'none'
  }
  if (c.auth === 'keystone') return c.keystoneUrl ? 'keystone' : fail('AUTH=keystone needs KEYSTONE_URL')
  if (c.auth === 'api-keys') return c.apiKeys ? 'api-keys' : fail('AUTH=api-keys needs API_KEYS (key:role,...)')
  if (c.keystoneUrl) return 'keystone'
  if (c.apiKeys) return 'api-keys'
  return fail('no way to authenticate callers: set KEYSTONE_URL (Keystone tokens) or API_KEYS (key:role,...); AUTH=none serves every request to anyone, for a demo or a test only')
}
