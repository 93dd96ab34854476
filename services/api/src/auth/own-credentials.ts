import { openStackCredentialsGiven, resolveOpenStackOptions, type KeystoneCredentials, type OpenStackSettings } from '@lazarus/openstack'

/**
 * The api's own Keystone account, which it validates callers' tokens with. A cloud of
 * clouds.yaml (OS_CLOUD) or an application credential is resolved like every service's
 * OpenStack settings (secure.yaml, OS_CACERT), at KEYSTONE_URL unless the cloud or
 * OS_AUTH_URL names a Keystone; otherwise OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME at
 * KEYSTONE_URL, as before. None of these: undefined (KEYSTONE_SERVICE_TOKEN, or a refusal).
 */
export const ownKeystoneCredentials = (s: Partial<OpenStackSettings>, keystoneUrl: string): KeystoneCredentials | undefined => {
  if (!openStackCredentialsGiven(s, keystoneUrl)) return undefined
  if (s.osCloud || s.osApplicationCredentialSecret) return resolveOpenStackOptions(s.osCloud ? s : { ...s, osAuthUrl: s.osAuthUrl ?? keystoneUrl })
  return {
    authUrl: keystoneUrl,
    username: s.osUsername,
    password: s.osPassword,
    projectName: s.osProjectName,
    userDomainName: s.osUserDomainName,
    projectDomainName: s.osProjectDomainName,
  }
}
