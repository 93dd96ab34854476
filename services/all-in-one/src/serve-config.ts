import { apiConfigSchema, apiSettings } from '@lazarus/api/config'
import { EvacuatorSettings, evacuatorSettings } from '@lazarus/evacuator/config'
import { FencerEnv, fencerSettings } from '@lazarus/fencer/config'
import { openStackLayout, openStackSettings } from '@lazarus/openstack'
import { mergeLayouts, setting, type ConfigFileLayout, type ServiceSettings } from '@lazarus/runtime'
import * as z from 'zod'

/**
 * `lazarus serve`'s one file, /etc/lazarus/serve.conf: the api's, the fencer's and the
 * evacuator's settings under the same sections and names as in their own files, one set of
 * OpenStack credentials (Nova, and the api's token validation), and the database as PGlite
 * on disk. No broker: the bus is in the process.
 */

const openStackKeys = Object.fromEntries(Object.keys(openStackSettings).map((k) => [k, true as const]))

/** The api's settings that serve decides itself: the broker, the credentials (one set, above), the pool. */
const apiPart = apiConfigSchema.omit({
  amqpUrl: true,
  dbPoolSize: true,
  databaseUrl: true,
  ...openStackKeys,
  computeHostCheck: true,
}).shape

const fencerPart = FencerEnv.omit({ amqpUrl: true, databaseUrl: true, opsPort: true, opsHost: true, ...openStackKeys }).shape

export const ServeSchema = z.object({
  ...apiPart,
  ...fencerPart,
  ...EvacuatorSettings.shape,
  ...openStackSettings,
  databaseUrl: z
    .string()
    .min(1)
    .default('.data/serve')
    .describe('The directory of the embedded PostgreSQL (PGlite) on disk, kept across restarts; or postgres://… for a PostgreSQL server.'),
  computeHostCheck: z
    .enum(['nova', 'off'])
    .default('nova')
    .describe("Host names checked against Nova's compute services on host create and rename, as Masakari checks them (`off`: not checked)."),
  seenNotificationsCapacity: setting.int(10_000, 1).describe('How many handled notification ids the detector remembers for duplicate suppression.'),
})
export type ServeConfig = z.infer<typeof ServeSchema>

/** The api's layout without its own credentials' places ([keystone_authtoken] keeps auth_url and the keystone_* options). */
const apiLayout: ConfigFileLayout = {
  sections: Object.fromEntries(
    Object.entries(apiSettings.layout?.sections ?? {}).map(([section, options]) => [
      section,
      section === 'keystone_authtoken' ? { keystoneUrl: options['keystoneUrl'] ?? 'auth_url' } : options,
    ]),
  ),
  prefixes: apiSettings.layout?.prefixes ?? {},
}

export const serveSettings: ServiceSettings<typeof ServeSchema> = {
  service: 'serve',
  schema: ServeSchema,
  layout: mergeLayouts(openStackLayout, apiLayout, evacuatorSettings.layout ?? {}, fencerSettings.layout ?? {}),
  ...(evacuatorSettings.computedDefaults ? { computedDefaults: evacuatorSettings.computedDefaults } : {}),
}
