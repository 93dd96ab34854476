import type { ServiceSchema } from '@lazarus/db'
import { FENCER_MIGRATIONS } from './adapters/db/migrations.js'

/** The fencer's schema, for `lazarus db migrate` (`@lazarus/fencer/migrations`). */
export const schemas: readonly ServiceSchema[] = [{ service: 'fencer', migrations: FENCER_MIGRATIONS }]
