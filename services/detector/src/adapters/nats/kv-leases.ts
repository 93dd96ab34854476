import { randomUUID } from 'node:crypto'
import { jetstream } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import type { LeaseTakeoverView } from '../../domain/lease-takeover.js'
import { createMalformedEntries, LeaseValue, parseEntry, type MalformedEntry } from './lease-values.js'
import { startReplicaBeat, type ReplicaBeat } from './replica-beat.js'

export type { LeaseValue, MalformedEntry } from './lease-values.js'

/** What `decideLeaseTakeover` needs to know of a lease, and the revision to take it over at. */
export interface LeaseInspection extends LeaseTakeoverView {
  revision: number | undefined
}

/**
 * Leases that keep detector replicas from doing the same thing twice (reporting one host
 * failure, raising one alert). `claim` takes a key only if nobody holds it. A lease claimed by a
 * run that is over, or claimed and not completed for `staleMs`, may be taken over
 * (`inspect`, then domain/lease-takeover.ts, then `takeOver` at the revision inspected). Keys
 * live at most the bucket's TTL. Every value read is parsed (lease-values.ts): a lease that does
 * not parse is held by an unknown holder (claimed, never completed by this run, taken over only
 * once `staleMs` old), a beat that does not parse is no beat.
 */
export interface Leases {
  claim(key: string, opts?: { note?: string }): Promise<boolean>
  complete(key: string): Promise<void>
  release(key: string): Promise<void>
  /** The current holder, if any is known: undefined too when the lease does not parse (`inspect` tells them apart). */
  get(key: string): Promise<LeaseValue | undefined>
  /** The lease and its holder's beat, their ages by the NATS server's clock. */
  inspect(key: string): Promise<LeaseInspection>
  /** Claim the lease for this run if it is still at `revision` (nobody completed or took it over since). */
  takeOver(key: string, revision: number, opts?: { note?: string }): Promise<boolean>
}

export const createKvLeases = async (opts: {
  nc: NatsConnection
  bucket: string
  ttlMs: number
  /** A lease claimed and not completed for this long may be taken over even from a holder that beats. */
  staleMs: number
  /** This replica (REPLICA_ID). */
  holder: string
  /** This run of it (default: a new random id). */
  boot?: string
  /** How often this run beats, and how old a holder's beat is when it counts as dead. */
  beatMs?: number
  deadAfterMs?: number
  now?: () => number
  /** A beat that could not be written (retried at the next one). */
  onBeatError?: (err: unknown) => void
  /** A lease or beat read whose value does not parse: once per key, until it parses again or is gone. */
  onMalformed?: (entry: MalformedEntry) => void
}): Promise<Leases & { kv: KV; beat: ReplicaBeat; close(): Promise<void> }> => {
  const now = opts.now ?? Date.now
  const boot = opts.boot ?? randomUUID()
  const deadAfterMs = opts.deadAfterMs ?? 3000
  const kvm = new Kvm(jetstream(opts.nc))
  // An existing bucket keeps the TTL it was created with.
  const kv = await kvm.create(opts.bucket, { ttl: opts.ttlMs, history: 1 }).catch(() => kvm.open(opts.bucket))
  const malformed = createMalformedEntries(opts.onMalformed)
  const beat = await startReplicaBeat({
    kv,
    replica: opts.holder,
    boot,
    beatMs: opts.beatMs ?? 1000,
    malformed,
    ...(opts.onBeatError && { onError: opts.onBeatError }),
  })
  const encode = (v: LeaseValue) => JSON.stringify(v)
  /** The lease at `key`: undefined when there is none; `value` undefined when it does not parse (its holder is unknown). */
  const read = async (key: string): Promise<{ value: LeaseValue | undefined; revision: number; created: number } | undefined> => {
    const e = await kv.get(key)
    if (e?.operation !== 'PUT') {
      malformed.fine(key)
      return undefined
    }
    const v = parseEntry(LeaseValue, e)
    if (v.ok) malformed.fine(key)
    else malformed.malformed({ key, revision: e.revision, reason: v.reason })
    return { value: v.ok ? v.value : undefined, revision: e.revision, created: e.created.getTime() }
  }
  const mine = (note?: string): LeaseValue => ({ holder: opts.holder, boot, at: now(), state: 'claimed', ...(note && { note }) })
  const me = { replica: opts.holder, boot }

  return {
    kv,
    beat,
    async claim(key, o = {}) {
      try {
        await kv.create(key, encode(mine(o.note)))
        return true
      } catch (err) {
        if (!(await read(key))) throw err // not a conflict: NATS itself failed
        return false // held, by a known holder or not
      }
    },
    async takeOver(key, revision, o = {}) {
      try {
        await kv.update(key, encode(mine(o.note)), revision)
        return true
      } catch {
        return false // completed, released or taken over since it was inspected
      }
    },
    async inspect(key) {
      const current = await read(key)
      const base = { me, deadAfterMs, staleMs: opts.staleMs }
      if (!current) return { ...base, lease: undefined, holderBeat: undefined, revision: undefined }
      const { value } = current
      const holderBeat = value?.state === 'claimed' && value.boot !== undefined ? await beat.beatOf(value.holder) : undefined
      const serverNow = beat.serverNow()
      const ageMs = serverNow - current.created
      return {
        ...base,
        revision: current.revision,
        // A lease that does not parse: its holder is unknown, and nobody is known to have completed it.
        lease: value ? { holder: value.holder, boot: value.boot, state: value.state, ageMs } : { holder: undefined, state: 'claimed', ageMs },
        holderBeat: holderBeat && { boot: holderBeat.boot, ageMs: serverNow - holderBeat.at },
      }
    },
    async complete(key) {
      const current = await read(key)
      if (current?.value && current.value.holder === opts.holder && (current.value.boot ?? boot) === boot) {
        await kv.update(key, encode({ ...current.value, state: 'done', at: now() }), current.revision).catch(() => undefined)
      }
    },
    async release(key) {
      await kv.delete(key)
    },
    get: async (key) => (await read(key))?.value,
    close: () => beat.stop(),
  }
}

/** A KV key (dot-separated tokens of `[-/_=a-zA-Z0-9]`) for any names: each as is when it fits, else `=` + base64url. */
export const leaseKey = (...parts: string[]): string => parts.map((p) => (/^[-_a-zA-Z0-9]+$/.test(p) ? p : `=${Buffer.from(p).toString('base64url')}`)).join('.')
