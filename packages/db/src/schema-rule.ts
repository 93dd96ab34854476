/**
 * Whether a build may run on the schema it finds: the one rule of expand-then-contract.
 *
 * - An applied migration this build does not know is from a newer build. An `expand`
 *   migration only adds (tables, columns, functions) and leaves what older builds use
 *   working, so an older build runs on it. A `contract` migration removes or changes what
 *   older builds use: a build that does not know it refuses to start.
 * - An `expand` migration this build knows that is not applied is missing: applied at start
 *   when auto-migrate is on, else the build refuses (run `lazarus db migrate` first).
 * - A `contract` migration this build knows that is not applied is not needed to run (the
 *   build works on the schema before and after it); only `lazarus db migrate --contract`
 *   applies it, once no replica of the previous release runs.
 */
export type MigrationKind = 'expand' | 'contract'

export interface KnownMigration {
  id: string
  /** Default `expand`. */
  kind?: MigrationKind | undefined
}

export interface AppliedMigration {
  id: string
  kind: MigrationKind
}

/** What the schema holds against a build's migrations. */
export interface SchemaState {
  /** Known expand migrations not applied, in the build's order. */
  pendingExpand: string[]
  /** Known contract migrations not applied, in the build's order. */
  pendingContract: string[]
  /** Applied migrations unknown to the build (from a newer build), by kind. */
  unknownExpand: string[]
  unknownContract: string[]
}

export type SchemaVerdict = SchemaState & ({ action: 'ready' } | { action: 'migrate' } | { action: 'refuse'; reason: string })

export const schemaState = (known: readonly KnownMigration[], applied: readonly AppliedMigration[]): SchemaState => {
  const knownIds = new Set(known.map((m) => m.id))
  const appliedIds = new Set(applied.map((m) => m.id))
  const unknown = applied.filter((m) => !knownIds.has(m.id))
  const pending = known.filter((m) => !appliedIds.has(m.id))
  return {
    pendingExpand: pending.filter((m) => (m.kind ?? 'expand') === 'expand').map((m) => m.id),
    pendingContract: pending.filter((m) => m.kind === 'contract').map((m) => m.id),
    unknownExpand: unknown.filter((m) => m.kind !== 'contract').map((m) => m.id),
    unknownContract: unknown.filter((m) => m.kind === 'contract').map((m) => m.id),
  }
}

/** At a service's start: run, apply the missing expand migrations first, or refuse (with why). */
export const decideSchema = (service: string, known: readonly KnownMigration[], applied: readonly AppliedMigration[], opts: { autoMigrate: boolean }): SchemaVerdict => {
  const state = schemaState(known, applied)
  if (state.unknownContract.length > 0) {
    return {
      ...state,
      action: 'refuse',
      reason:
        `schema of ${service} has contract migration(s) this build does not know: ${state.unknownContract.join(', ')}; ` +
        'a newer release removed what this one uses: run that release (or a newer one) instead',
    }
  }
  if (state.pendingExpand.length > 0 && !opts.autoMigrate) {
    return {
      ...state,
      action: 'refuse',
      reason: `schema of ${service} lacks migration(s) ${state.pendingExpand.join(', ')} and auto-migrate is off: run \`lazarus db migrate\` first`,
    }
  }
  return { ...state, action: state.pendingExpand.length > 0 ? 'migrate' : 'ready' }
}
