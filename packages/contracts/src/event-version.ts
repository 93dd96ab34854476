/**
 * The version of the event contract a message was written against, and whether a reader of
 * this build may read it.
 *
 * - `schemaVersion` is `"<major>.<minor>"`. A minor bump only adds optional fields: every
 *   reader of the same major reads it and ignores what it does not know (zod's objects
 *   strip unknown keys). A major bump removes or changes fields: a reader of an older major
 *   refuses it (the bus dead-letters it) rather than acting on a message it misreads.
 * - A message without `schemaVersion` is 1.0: producers of the first release do not write it.
 * - 1.1: `host.fenced.v1` and `host.fence_failed.v1` may carry `fenceAttempts`.
 */
export const EVENT_SCHEMA_VERSION = '1.1'

export type EventVersionVerdict = { accept: true; version: string } | { accept: false; reason: string }

const VERSION = /^(\d{1,6})\.(\d{1,6})$/

const majorOf = (version: string): number | undefined => {
  const m = VERSION.exec(version)
  return m ? Number(m[1]) : undefined
}

/** Whether this build reads a message of `version` (the message's `schemaVersion` field, as received). */
export const readEventVersion = (version: unknown, current: string = EVENT_SCHEMA_VERSION): EventVersionVerdict => {
  if (version === undefined) return { accept: true, version: '1.0' }
  const theirs = typeof version === 'string' ? majorOf(version) : undefined
  if (theirs === undefined) return { accept: false, reason: `schemaVersion ${JSON.stringify(version)} is not "<major>.<minor>"` }
  const ours = majorOf(current)
  if (theirs === ours) return { accept: true, version: version as string }
  return {
    accept: false,
    reason:
      theirs > (ours ?? 0)
        ? `schemaVersion ${version as string} is of a newer major than this reader's ${current}: upgrade this service`
        : `schemaVersion ${version as string} is of an older major than this reader's ${current}: no reader for it`,
  }
}

/** The version verdict of a decoded message body: its `schemaVersion` field, if it is an object with one. */
export const readMessageVersion = (message: unknown): EventVersionVerdict =>
  readEventVersion(typeof message === 'object' && message !== null && !Array.isArray(message) ? (message as { schemaVersion?: unknown }).schemaVersion : undefined)
