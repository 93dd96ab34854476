import type { ServiceSchema } from '@lazarus/db'
import { ingestMigrations } from './ingest/dead-letters.js'
import { migrations } from './store/migrations.js'

/** The api's schemas, for `lazarus db migrate` (`@lazarus/api/migrations`). */
export const schemas: readonly ServiceSchema[] = [
  { service: 'api', migrations },
  { service: 'api-ingest', migrations: ingestMigrations },
]
