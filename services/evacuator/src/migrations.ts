import type { ServiceSchema } from '@lazarus/db'
import { EVACUATOR_MIGRATIONS } from './store/migrations.js'

/** The evacuator's schema, for `lazarus db migrate` (`@lazarus/evacuator/migrations`). */
export const schemas: readonly ServiceSchema[] = [{ service: 'evacuator', migrations: EVACUATOR_MIGRATIONS }]
