import { readFileSync } from 'node:fs'
import * as z from 'zod'
import { loadCloud, type CloudEntry, type CloudsSearch } from './clouds.js'
import { createOpenStackClient, type OpenStackClient, type OpenStackClientOptions } from './openstack-client.js'

/**
 * The cloud credentials a service reads from its settings, under the standard OpenStack
 * variable names (OS_CLOUD, OS_AUTH_URL, OS_USERNAME, OS_APPLICATION_CREDENTIAL_ID, OS_CACERT, ...):
 * spread into a service's settings schema. With OS_CLOUD the cloud's entry in clouds.yaml is
 * read first and any setting given here overrides its field.
 */
export const openStackSettings = {
  osCloud: z
    .string()
    .min(1)
    .optional()
    .describe(
      'The cloud of clouds.yaml to use (as openstacksdk: OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml; secure.yaml merged over it). The OS_* settings below override its fields.',
    ),
  osClientConfigFile: z.string().min(1).optional().describe('A clouds.yaml looked at before the usual places.'),
  osClientSecureFile: z.string().min(1).optional().describe('A secure.yaml looked at before the usual places.'),
  osAuthUrl: z.url().optional().describe('Keystone, e.g. http://keystone:5000/v3 (required unless OS_CLOUD gives it).'),
  osAuthType: z
    .enum(['password', 'v3password', 'v3applicationcredential'])
    .optional()
    .describe('`password` (default) or `v3applicationcredential` (default when an application credential secret is given).'),
  osUsername: z
    .string()
    .min(1)
    .optional()
    .describe("The OpenStack user Lazarus acts as (needs the admin role for Nova's os-services and evacuate); with an application credential by name, its user."),
  osPassword: z.string().min(1).optional().describe("That user's password."),
  osProjectName: z.string().min(1).optional().describe('The project the token is scoped to (password authentication).'),
  osUserDomainName: z.string().min(1).optional().describe("The user's domain (default `Default`)."),
  osProjectDomainName: z.string().min(1).optional().describe("The project's domain (default `Default`)."),
  osApplicationCredentialId: z.string().min(1).optional().describe('A Keystone application credential, by id (it carries its own project and roles).'),
  osApplicationCredentialName: z.string().min(1).optional().describe('Or by name, with OS_USERNAME (and OS_USER_DOMAIN_NAME).'),
  osApplicationCredentialSecret: z.string().min(1).optional().describe("The application credential's secret."),
  osCacert: z.string().min(1).optional().describe('A PEM CA bundle that TLS to Keystone and Nova is checked against (else the system CAs).'),
  osRegionName: z.string().min(1).optional().describe('Region of the Nova endpoint in the catalog (any when unset).'),
  osInterface: z.enum(['public', 'internal', 'admin']).optional().describe('Which catalog endpoint of Nova to use (default `public`).'),
}

export type OpenStackSettings = z.infer<z.ZodObject<typeof openStackSettings>>

const given = <T>(...values: (T | undefined)[]): T | undefined => values.find((v) => v !== undefined && v !== '')

/**
 * The client's options from the settings (and clouds.yaml when OS_CLOUD names a cloud). Throws
 * an Error naming what is missing; the message never holds a secret.
 */
export const resolveOpenStackOptions = (s: Partial<OpenStackSettings>, search: CloudsSearch = {}): OpenStackClientOptions => {
  let cloud: CloudEntry = {}
  let from = 'the OS_* settings'
  if (s.osCloud) {
    const loaded = loadCloud(s.osCloud, { ...search, configFile: s.osClientConfigFile ?? search.configFile, secureFile: s.osClientSecureFile ?? search.secureFile })
    cloud = loaded.cloud
    from = `cloud '${s.osCloud}' of ${loaded.file}`
  }
  const a = cloud.auth ?? {}
  const authUrl = given(s.osAuthUrl, a.auth_url)
  if (!authUrl) throw new Error(`no Keystone URL: set OS_AUTH_URL (or auth.auth_url of a cloud in clouds.yaml, with OS_CLOUD); read ${from}`)
  const secret = given(s.osApplicationCredentialSecret, a.application_credential_secret)
  const authType = given(s.osAuthType, cloud.auth_type) ?? (secret !== undefined ? 'v3applicationcredential' : 'password')
  const cacert = given(s.osCacert, cloud.cacert)
  let ca: string | undefined
  if (cacert) {
    try {
      ca = readFileSync(cacert, 'utf8')
    } catch (err) {
      throw new Error(`the CA bundle ${cacert} (OS_CACERT / cacert) cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
  const common = {
    authUrl,
    userDomainName: given(s.osUserDomainName, a.user_domain_name) ?? 'Default',
    interface: given(s.osInterface, cloud.interface) ?? 'public',
    ...(given(s.osRegionName, cloud.region_name) ? { regionName: given(s.osRegionName, cloud.region_name) as string } : {}),
    ...(ca ? { ca } : {}),
  }
  if (authType === 'v3applicationcredential') {
    const id = given(s.osApplicationCredentialId, a.application_credential_id)
    const name = given(s.osApplicationCredentialName, a.application_credential_name)
    const username = given(s.osUsername, a.username)
    if (secret === undefined) throw new Error(`auth_type v3applicationcredential needs OS_APPLICATION_CREDENTIAL_SECRET (application_credential_secret); read ${from}`)
    if (!id && !(name && username)) {
      throw new Error(`an application credential needs OS_APPLICATION_CREDENTIAL_ID, or OS_APPLICATION_CREDENTIAL_NAME with OS_USERNAME; read ${from}`)
    }
    return { ...common, applicationCredentialSecret: secret, ...(id ? { applicationCredentialId: id } : { applicationCredentialName: name, username }) }
  }
  const username = given(s.osUsername, a.username)
  const password = given(s.osPassword, a.password)
  const projectName = given(s.osProjectName, a.project_name)
  const missing = [!username && 'OS_USERNAME', !password && 'OS_PASSWORD', !projectName && 'OS_PROJECT_NAME'].filter(Boolean)
  if (missing.length > 0) throw new Error(`password authentication needs ${missing.join(', ')} (or the cloud's auth in clouds.yaml, or an application credential); read ${from}`)
  return { ...common, username, password, projectName, projectDomainName: given(s.osProjectDomainName, a.project_domain_name) ?? 'Default' }
}

/** Authenticate with the settings above and return the client. */
export const connectOpenStack = (s: Partial<OpenStackSettings>): Promise<OpenStackClient> => createOpenStackClient(resolveOpenStackOptions(s))

/**
 * True when the settings hold a complete way into OpenStack: a cloud of clouds.yaml
 * (OS_CLOUD), or a Keystone (OS_AUTH_URL, or `defaultAuthUrl` standing in for it) with an
 * application credential secret or a user, password and project.
 */
export const openStackCredentialsGiven = (s: Partial<OpenStackSettings>, defaultAuthUrl?: string): boolean =>
  Boolean(s.osCloud) || Boolean((s.osAuthUrl ?? defaultAuthUrl) && (s.osApplicationCredentialSecret || (s.osUsername && s.osPassword && s.osProjectName)))

/** True when the settings name a way to authenticate (OS_CLOUD or OS_AUTH_URL). */
export const hasOpenStackSettings = (s: Partial<OpenStackSettings>): boolean => Boolean(s.osCloud || s.osAuthUrl)

/**
 * Where the credentials sit in a service's config file: Masakari's `[DEFAULT]` names for
 * its Nova account (os_privileged_user_*, os_region_name, os_user_domain_name, ...); the
 * others under their own names in `[DEFAULT]` (`os_cloud`, `os_cacert`, `os_application_credential_id`, ...).
 */
export const openStackLayout: { sections: Record<string, Record<string, string>> } = {
  sections: {
    DEFAULT: {
      osAuthUrl: 'os_privileged_user_auth_url',
      osUsername: 'os_privileged_user_name',
      osPassword: 'os_privileged_user_password',
      osProjectName: 'os_privileged_user_tenant',
    },
  },
}
