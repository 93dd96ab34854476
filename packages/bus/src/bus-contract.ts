import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { AnyEnvelope, type QueueSpec } from '@lazarus/contracts'
import { afterEach, describe, expect, it } from 'vitest'
import * as z from 'zod'
import { ACK, type Bus, type DeliveryContext, type HandlerResult } from './bus.js'
import { UnroutableError } from './errors.js'

/** Makes a bus that declares `queues` (besides the subscribed ones) when it starts. */
export type BusFactory = (queues: readonly QueueSpec[]) => Promise<Bus>

const Ping = AnyEnvelope.extend({ payload: z.object({ n: z.number().int() }) })
type Ping = z.infer<typeof Ping>

export const ping = (type: string, n: number, payload: unknown = { n }): AnyEnvelope => ({
  id: randomUUID(),
  type,
  occurredAt: new Date().toISOString(),
  correlationId: 'bus-contract',
  source: 'bus-contract',
  payload,
})

/** Poll until `check` holds (noisy CI machines: generous timeout, short interval). */
export const waitFor = async (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(20)
  }
}

/**
 * The behaviour every transport owes the services, registered as vitest tests. Each test
 * uses its own queue and routing keys, so tests never see each other's messages.
 */
export const registerBusContract = (transport: string, create: BusFactory): void => {
  describe(`bus contract: ${transport}`, () => {
    const run = randomUUID().slice(0, 8)
    let seq = 0
    const open: Bus[] = []

    /** A queue spec with unique names; `key(word)` gives routing keys of this test. */
    const fixture = (over: Partial<QueueSpec> = {}) => {
      seq += 1
      const base = `contract.${run}.${seq}`
      const key = (word: string) => `${base}.${word}`
      const spec: QueueSpec = { queue: base, bind: [key('ping')], prefetch: 10, maxAttempts: 3, retryDelayMs: 100, ...over }
      return { spec, key }
    }
    const bus = async (...queues: QueueSpec[]): Promise<Bus> => {
      const b = await create(queues)
      open.push(b)
      return b
    }

    afterEach(async () => {
      await Promise.all(open.splice(0).map((b) => b.close()))
    })

    it('delivers a published event, validated, on its first attempt', async () => {
      const { spec, key } = fixture()
      const b = await bus(spec)
      const got: { event: Ping; ctx: DeliveryContext }[] = []
      await b.subscribe(spec, Ping, async (event, ctx) => {
        got.push({ event, ctx })
        return ACK
      })
      const sent = ping(key('ping'), 7)
      await b.publish(sent)
      await waitFor(() => got.length === 1, 'the delivery')
      expect(got[0]?.event).toEqual(sent)
      expect(got[0]?.ctx).toEqual({ attempt: 1, redelivered: false })
      await sleep(100)
      expect(got).toHaveLength(1)
    })

    it('routes by topic pattern: * is one word, # is zero or more', async () => {
      const one = fixture()
      const base = one.key('x').slice(0, -2)
      const star: QueueSpec = { ...one.spec, bind: [`${base}.*.created`] }
      const hash: QueueSpec = { ...fixture().spec, bind: [`${base}.#`] }
      const b = await bus(star, hash)
      const seen = { star: [] as string[], hash: [] as string[] }
      await b.subscribe(star, Ping, async (e) => (seen.star.push(e.type), ACK))
      await b.subscribe(hash, Ping, async (e) => (seen.hash.push(e.type), ACK))
      await b.publish(ping(`${base}.host.created`, 1))
      await b.publish(ping(`${base}.host.deep.created`, 2))
      await b.publish(ping(base, 3))
      await waitFor(() => seen.hash.length === 3, 'three deliveries on the # queue')
      await sleep(200)
      expect(seen.star).toEqual([`${base}.host.created`])
      expect([...seen.hash].sort()).toEqual([base, `${base}.host.created`, `${base}.host.deep.created`].sort())
    })

    it('shares a queue between competing consumers, each message handled once', async () => {
      const { spec, key } = fixture({ prefetch: 1 })
      const b = await bus(spec)
      const byConsumer = [0, 0]
      const handled: number[] = []
      for (const index of [0, 1]) {
        await b.subscribe(spec, Ping, async (e) => {
          byConsumer[index] = (byConsumer[index] ?? 0) + 1
          handled.push(e.payload.n)
          await sleep(10)
          return ACK
        })
      }
      const total = 20
      for (let n = 0; n < total; n += 1) await b.publish(ping(key('ping'), n))
      await waitFor(() => handled.length >= total, 'every message handled')
      await sleep(200)
      expect([...handled].sort((x, y) => x - y)).toEqual([...Array(total).keys()])
      expect(byConsumer[0]).toBeGreaterThan(0)
      expect(byConsumer[1]).toBeGreaterThan(0)
    })

    it('never runs more handlers at once than the prefetch', async () => {
      const { spec, key } = fixture({ prefetch: 3 })
      const b = await bus(spec)
      for (let n = 0; n < 12; n += 1) await b.publish(ping(key('ping'), n))
      let running = 0
      let most = 0
      let done = 0
      await b.subscribe(spec, Ping, async () => {
        running += 1
        most = Math.max(most, running)
        await sleep(60)
        running -= 1
        done += 1
        return ACK
      })
      await waitFor(() => done === 12, 'all twelve handled')
      expect(most).toBe(3)
    })

    it('keeps messages published before anyone subscribes', async () => {
      const { spec, key } = fixture()
      const b = await bus(spec)
      for (let n = 0; n < 3; n += 1) await b.publish(ping(key('ping'), n))
      await sleep(100)
      const got: number[] = []
      await b.subscribe(spec, Ping, async (e) => (got.push(e.payload.n), ACK))
      await waitFor(() => got.length === 3, 'the three early messages')
      expect([...got].sort()).toEqual([0, 1, 2])
    })

    it('redelivers a RETRY after the retry delay, as attempt 2', async () => {
      const { spec, key } = fixture({ retryDelayMs: 400 })
      const b = await bus(spec)
      const attempts: { attempt: number; at: number }[] = []
      await b.subscribe(spec, Ping, async (_e, ctx): Promise<HandlerResult> => {
        attempts.push({ attempt: ctx.attempt, at: Date.now() })
        return ctx.attempt === 1 ? { type: 'RETRY', reason: 'not yet' } : ACK
      })
      await b.publish(ping(key('ping'), 1))
      await waitFor(() => attempts.length === 2, 'the redelivery')
      const [first, second] = attempts
      expect([first?.attempt, second?.attempt]).toEqual([1, 2])
      expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(350)
      await sleep(200)
      expect(attempts).toHaveLength(2)
      expect(await b.deadLetters(spec)).toEqual([])
    })

    it("honours a RETRY's own delay over the queue's", async () => {
      const { spec, key } = fixture({ retryDelayMs: 60_000 })
      const b = await bus(spec)
      const attempts: number[] = []
      await b.subscribe(spec, Ping, async (_e, ctx): Promise<HandlerResult> => {
        attempts.push(ctx.attempt)
        return ctx.attempt === 1 ? { type: 'RETRY', reason: 'soon', delayMs: 50 } : ACK
      })
      await b.publish(ping(key('ping'), 1))
      await waitFor(() => attempts.length === 2, 'the early redelivery', 10_000)
      expect(attempts).toEqual([1, 2])
    })

    it('retries a handler that throws', async () => {
      const { spec, key } = fixture({ retryDelayMs: 50 })
      const b = await bus(spec)
      const attempts: number[] = []
      await b.subscribe(spec, Ping, async (_e, ctx) => {
        attempts.push(ctx.attempt)
        if (ctx.attempt === 1) throw new Error('boom')
        return ACK
      })
      await b.publish(ping(key('ping'), 1))
      await waitFor(() => attempts.length === 2, 'the retry after a throw')
      expect(attempts).toEqual([1, 2])
    })

    it('dead-letters on DEAD with the reason, without retrying', async () => {
      const { spec, key } = fixture()
      const b = await bus(spec)
      let calls = 0
      await b.subscribe(spec, Ping, async (): Promise<HandlerResult> => {
        calls += 1
        return { type: 'DEAD', reason: 'poison pill' }
      })
      const sent = ping(key('ping'), 5)
      await b.publish(sent)
      await waitFor(async () => (await b.deadLetters(spec)).length === 1, 'the dead letter')
      expect(await b.deadLetters(spec)).toEqual([{ body: sent, reason: 'poison pill', attempts: 1 }])
      expect(calls).toBe(1)
    })

    it('dead-letters after maxAttempts with the last reason; reading dead letters keeps them', async () => {
      const { spec, key } = fixture({ maxAttempts: 3, retryDelayMs: 50 })
      const b = await bus(spec)
      const attempts: number[] = []
      await b.subscribe(spec, Ping, async (_e, ctx): Promise<HandlerResult> => {
        attempts.push(ctx.attempt)
        return { type: 'RETRY', reason: `busy (${ctx.attempt})` }
      })
      const sent = ping(key('ping'), 9)
      await b.publish(sent)
      await waitFor(async () => (await b.deadLetters(spec)).length === 1, 'the dead letter')
      const dead = await b.deadLetters(spec)
      expect(dead).toHaveLength(1)
      expect(dead[0]?.body).toEqual(sent)
      expect(dead[0]?.attempts).toBe(3)
      expect(dead[0]?.reason).toMatch(/busy \(3\)/)
      expect(attempts).toEqual([1, 2, 3])
      expect(await b.deadLetters(spec)).toEqual(dead)
    })

    it('dead-letters a message that fails the schema, without calling the handler', async () => {
      const { spec, key } = fixture()
      const b = await bus(spec)
      let calls = 0
      await b.subscribe(spec, Ping, async () => (calls++, ACK))
      await b.publish(ping(key('ping'), 0, { n: 'not a number' }))
      await waitFor(async () => (await b.deadLetters(spec)).length === 1, 'the dead letter')
      const [dead] = await b.deadLetters(spec)
      expect(dead?.reason).toMatch(/invalid message/)
      expect(dead?.reason).toMatch(/payload\.n/)
      expect(dead?.attempts).toBe(1)
      expect(calls).toBe(0)
    })

    it('dead-letters an event of a newer major schemaVersion; reads a newer minor, ignoring its unknown fields, and one without a version', async () => {
      const { spec, key } = fixture()
      const b = await bus(spec)
      const got: Ping[] = []
      await b.subscribe(spec, Ping, async (event) => (got.push(event), ACK))
      await b.publish({ ...ping(key('ping'), 1), schemaVersion: '2.0' })
      await b.publish({ ...ping(key('ping'), 2), schemaVersion: '1.7', addedInOneSeven: true } as AnyEnvelope)
      await b.publish(ping(key('ping'), 3))
      await waitFor(async () => (await b.deadLetters(spec)).length === 1 && got.length === 2, 'one dead letter and two deliveries')
      const [dead] = await b.deadLetters(spec)
      expect(dead?.reason).toMatch(/schemaVersion 2\.0 is of a newer major/)
      expect(dead?.attempts).toBe(1)
      expect(got.map((e) => e.payload.n).sort()).toEqual([2, 3])
      expect(got.find((e) => e.payload.n === 2)).not.toHaveProperty('addedInOneSeven')
    })

    it('rejects a publish that no queue binds', async () => {
      const { spec, key } = fixture()
      const b = await bus(spec)
      await expect(b.publish(ping(key('nobody-listens'), 1))).rejects.toBeInstanceOf(UnroutableError)
    })

    it('rejects a publish that cannot be serialised', async () => {
      const { spec, key } = fixture()
      const b = await bus(spec)
      await expect(b.publish(ping(key('ping'), 1, { n: 1n }))).rejects.toThrow(TypeError)
    })

    it('lets a handler publish', async () => {
      const first = fixture()
      const second = fixture()
      const b = await bus(first.spec, second.spec)
      const got: number[] = []
      await b.subscribe(first.spec, Ping, async (e) => {
        await b.publish(ping(second.key('ping'), e.payload.n + 1))
        return ACK
      })
      await b.subscribe(second.spec, Ping, async (e) => (got.push(e.payload.n), ACK))
      await b.publish(ping(first.key('ping'), 41))
      await waitFor(() => got.length === 1, 'the follow-up event')
      expect(got).toEqual([42])
    })

    it('stops delivering to a cancelled subscription', async () => {
      const { spec, key } = fixture()
      const b = await bus(spec)
      const got: number[] = []
      const sub = await b.subscribe(spec, Ping, async (e) => (got.push(e.payload.n), ACK))
      await b.publish(ping(key('ping'), 1))
      await waitFor(() => got.length === 1, 'the first delivery')
      await sub.cancel()
      await b.publish(ping(key('ping'), 2))
      await sleep(300)
      expect(got).toEqual([1])
    })

    it('close waits for handlers in progress, which may still publish', async () => {
      const first = fixture()
      const second = fixture()
      const b = await bus(first.spec, second.spec)
      let release: () => void = () => undefined
      const gate = new Promise<void>((resolve) => (release = resolve))
      let started = false
      let finished = false
      await b.subscribe(first.spec, Ping, async () => {
        started = true
        await gate
        await b.publish(ping(second.key('ping'), 2))
        finished = true
        return ACK
      })
      await b.publish(ping(first.key('ping'), 1))
      await waitFor(() => started, 'the handler to start')
      let closed = false
      const closing = b.close().then(() => (closed = true))
      await sleep(150)
      expect(closed).toBe(false)
      release()
      await closing
      expect(finished).toBe(true)
      expect(b.isReady()).toBe(false)
      await expect(b.publish(ping(first.key('ping'), 3))).rejects.toThrow(/closed/)
    })
  })
}
