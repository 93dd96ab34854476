import * as z from 'zod'
import { createOpenStackClient, type OpenStackClient } from './openstack-client.js'

/**
 * The cloud credentials a service reads from its settings, under the standard OpenStack
 * variable names (OS_AUTH_URL, OS_USERNAME, ...): spread into a service's settings schema.
 */
export const openStackSettings = {
  osAuthUrl: z.url().describe('Keystone, e.g. http://keystone:5000/v3.'),
  osUsername: z.string().min(1).describe("The OpenStack user Lazarus acts as (needs the admin role for Nova's os-services and evacuate)."),
  osPassword: z.string().min(1).describe("That user's password."),
  osProjectName: z.string().min(1).describe('The project the token is scoped to.'),
  osUserDomainName: z.string().min(1).default('Default').describe("The user's domain."),
  osProjectDomainName: z.string().min(1).default('Default').describe("The project's domain."),
  osRegionName: z.string().min(1).optional().describe('Region of the Nova endpoint in the catalog (any when unset).'),
  osInterface: z.enum(['public', 'internal', 'admin']).default('public').describe('Which catalog endpoint of Nova to use.'),
}

export type OpenStackSettings = z.infer<z.ZodObject<typeof openStackSettings>>

/** Authenticate with the settings above and return the client. */
export const connectOpenStack = (s: OpenStackSettings): Promise<OpenStackClient> =>
  createOpenStackClient({
    authUrl: s.osAuthUrl,
    username: s.osUsername,
    password: s.osPassword,
    projectName: s.osProjectName,
    userDomainName: s.osUserDomainName,
    projectDomainName: s.osProjectDomainName,
    ...(s.osRegionName ? { regionName: s.osRegionName } : {}),
    interface: s.osInterface,
  })

/**
 * Where the credentials sit in a service's config file: Masakari's `[DEFAULT]` names for
 * its Nova account (os_privileged_user_*, os_region_name, os_user_domain_name, ...).
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
