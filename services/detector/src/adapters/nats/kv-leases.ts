import { jetstream } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'

/** Who holds a lease, since when, and whether its work is done. */
export interface LeaseValue {
  holder: string
  at: number
  state: 'claimed' | 'done'
  note?: string
}

/**
 * Leases that keep detector replicas from doing the same thing twice (reporting one host
 * failure, raising one alert). `claim` takes a key only if nobody holds it; a holder that
 * claimed and never completed within `staleMs` (it died) may be replaced by `claim` with
 * `takeOverStale`. Keys live at most the bucket's TTL.
 */
export interface Leases {
  claim(key: string, opts?: { note?: string; takeOverStale?: boolean }): Promise<boolean>
  complete(key: string): Promise<void>
  release(key: string): Promise<void>
  /** The current holder, if any. */
  get(key: string): Promise<LeaseValue | undefined>
}

export const createKvLeases = async (opts: {
  nc: NatsConnection
  bucket: string
  ttlMs: number
  staleMs: number
  holder: string
  now?: () => number
}): Promise<Leases & { kv: KV }> => {
  const now = opts.now ?? Date.now
  const kvm = new Kvm(jetstream(opts.nc))
  // An existing bucket keeps the TTL it was created with.
  const kv = await kvm.create(opts.bucket, { ttl: opts.ttlMs, history: 1 }).catch(() => kvm.open(opts.bucket))
  const encode = (v: LeaseValue) => JSON.stringify(v)
  const read = async (key: string): Promise<{ value: LeaseValue; revision: number } | undefined> => {
    const e = await kv.get(key)
    if (e?.operation !== 'PUT' || e.length === 0) return undefined
    try {
      return { value: e.json<LeaseValue>(), revision: e.revision }
    } catch {
      return undefined
    }
  }
  const mine = (note?: string): LeaseValue => ({ holder: opts.holder, at: now(), state: 'claimed', ...(note && { note }) })

  return {
    kv,
    async claim(key, o = {}) {
      try {
        await kv.create(key, encode(mine(o.note)))
        return true
      } catch (err) {
        const current = await read(key)
        if (!current) throw err // not a conflict: NATS itself failed
        if (!o.takeOverStale || current.value.state !== 'claimed' || now() - current.value.at < opts.staleMs) return false
        try {
          await kv.update(key, encode(mine(o.note)), current.revision)
          return true
        } catch {
          return false // someone else took it over first
        }
      }
    },
    async complete(key) {
      const current = await read(key)
      if (current && current.value.holder === opts.holder) {
        await kv.update(key, encode({ ...current.value, state: 'done', at: now() }), current.revision).catch(() => undefined)
      }
    },
    async release(key) {
      await kv.delete(key)
    },
    get: async (key) => (await read(key))?.value,
  }
}

/** A KV key (dot-separated tokens of `[-/_=a-zA-Z0-9]`) for any names: each as is when it fits, else `=` + base64url. */
export const leaseKey = (...parts: string[]): string => parts.map((p) => (/^[-_a-zA-Z0-9]+$/.test(p) ? p : `=${Buffer.from(p).toString('base64url')}`)).join('.')
