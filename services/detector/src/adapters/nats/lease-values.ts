import type { KvEntry } from '@nats-io/kv'
import * as z from 'zod'

/*
 * What detector replicas write to the lease bucket, and what a replica believes of what it
 * reads there. Anyone with write access to the bucket, a bug or another build may put
 * anything under a key, so every value read is parsed with these schemas. A value that does
 * not parse is never taken for "nobody holds it", nor for a holder known dead:
 * - a lease: held by an unknown holder. It is taken over only once it is LEASE_STALE_MS old
 *   (domain/lease-takeover.ts), at its revision; a claim of it fails as for any held lease.
 * - a replica beat: no beat of that replica, exactly as if its key were gone.
 * Each such key is reported once (kv-leases.ts `onMalformed`), until it parses again or is gone.
 */

/** The longest replica name (REPLICA_ID) a lease or beat may carry. */
export const LEASE_HOLDER_MAX = 256
/** The longest run id (a replica run's boot id: a uuid). */
export const LEASE_BOOT_MAX = 128
/** The longest note (an incident id: a host name and a time stamp, or a segment). */
export const LEASE_NOTE_MAX = 1024
/** The largest value read at all: a larger one is refused before it is decoded. */
export const LEASE_VALUE_BYTES_MAX = 16_384

const Holder = z.string().min(1).max(LEASE_HOLDER_MAX)
const Boot = z.string().min(1).max(LEASE_BOOT_MAX)

/** A lease: who holds it (the replica and its run), since when by its clock (for people), and whether its work is done. */
export const LeaseValue = z.object({
  holder: Holder,
  /** The holder's run (absent in leases of builds from before replica beats). */
  boot: Boot.optional(),
  /** The holder's clock when it claimed or completed it, epoch ms (zod's number: finite). */
  at: z.number(),
  state: z.enum(['claimed', 'done']),
  note: z.string().max(LEASE_NOTE_MAX).optional(),
})
export type LeaseValue = z.infer<typeof LeaseValue>

/** A replica beat (key `replica.<REPLICA_ID>`): the run that wrote it; its time is the server's stamp of the entry. */
export const ReplicaBeatValue = z.object({
  replica: Holder.optional(),
  boot: Boot,
})
export type ReplicaBeatValue = z.infer<typeof ReplicaBeatValue>

/** A value of the bucket that does not parse: its key, its revision, and why (no part of the value itself). */
export interface MalformedEntry {
  key: string
  revision: number
  reason: string
}

/** A bucket entry's value, checked: the value, or why it was refused. */
export const parseEntry = <T>(schema: z.ZodType<T>, e: KvEntry): { ok: true; value: T } | { ok: false; reason: string } => {
  if (e.length > LEASE_VALUE_BYTES_MAX) return { ok: false, reason: `${e.length} bytes, more than ${LEASE_VALUE_BYTES_MAX}` }
  let json: unknown
  try {
    json = JSON.parse(e.string())
  } catch {
    return { ok: false, reason: e.length === 0 ? 'empty' : 'not JSON' }
  }
  const r = schema.safeParse(json)
  if (r.success) return { ok: true, value: r.data }
  const issues = r.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || 'value'}: ${i.message}`)
  return { ok: false, reason: issues.join('; ') }
}

/**
 * Hears of each key whose value does not parse once, until it parses again or is gone (a
 * follower reads the same forged lease every poll). Remembers at most `max` keys.
 */
export interface MalformedEntries {
  malformed(entry: MalformedEntry): void
  fine(key: string): void
}

export const createMalformedEntries = (report: ((entry: MalformedEntry) => void) | undefined, max = 1024): MalformedEntries => {
  const reported = new Set<string>()
  return {
    malformed(entry) {
      if (reported.has(entry.key)) return
      if (reported.size >= max) {
        const oldest = reported.values().next()
        if (!oldest.done) reported.delete(oldest.value)
      }
      reported.add(entry.key)
      report?.(entry)
    },
    fine(key) {
      reported.delete(key)
    },
  }
}
