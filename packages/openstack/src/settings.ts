import * as z from 'zod'
import { createOpenStackClient, type OpenStackClient } from './openstack-client.js'

/**
 * The cloud credentials a service reads from its settings, under the standard OpenStack
 * variable names (OS_AUTH_URL, OS_USERNAME, ...): spread into a service's settings schema.
 */
export const openStackSettings = {
  osAuthUrl: z.url(),
  osUsername: z.string().min(1),
  osPassword: z.string().min(1),
  osProjectName: z.string().min(1),
  osUserDomainName: z.string().min(1).default('Default'),
  osProjectDomainName: z.string().min(1).default('Default'),
  osRegionName: z.string().min(1).optional(),
  osInterface: z.enum(['public', 'internal', 'admin']).default('public'),
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
