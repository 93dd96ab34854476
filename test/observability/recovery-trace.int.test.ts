import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../support/lazarus-cluster.js'
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js'
import { eventually } from '../support/processes.js'

interface SimServer {
  id: string
  host: string
}

/**
 * One trace per recovery, across real processes: cloud-sim, api, detector, fencer and
 * evacuator over RabbitMQ and PostgreSQL, each exporting OTLP http/json to a receiver on
 * loopback (OTEL_EXPORTER_OTLP_ENDPOINT). The notification is sent with a traceparent of
 * the test's own; every span of the recovery (the api's request, the outbox publish, the
 * fence steps, every instance evacuation) must carry that trace id, and every span's parent
 * must be a span of the same trace, back to the test's.
 */
describe('one trace per recovery, api request to the last evacuation', () => {
  let c: Cluster
  let receiver: OtlpReceiver
  let hosts: string[]
  beforeAll(async () => {
    receiver = await startOtlpReceiver()
    c = await startCluster({ serviceEnv: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } })
    ;({ hosts } = await c.registerSegment({ name: 'traced' }))
  }, 120_000)
  afterAll(async () => {
    await c?.stop()
    await receiver?.close()
  })

  it('links the request, the fence and every evacuation in the caller trace', async () => {
    const victim = hosts[0]!
    const victims = (await c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers.filter((s) => s.host === victim)
    expect(victims.length).toBeGreaterThan(0)
    await c.sim('POST', `/sim/hosts/${victim}/crash`)

    const traceId = randomBytes(16).toString('hex')
    const callerSpan = randomBytes(8).toString('hex')
    const res = await fetch(`${c.apiUrl}/v1/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${callerSpan}-01` },
      body: JSON.stringify({
        notification: {
          type: 'COMPUTE_HOST',
          hostname: victim,
          generated_time: new Date().toISOString(),
          payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
        },
      }),
    })
    expect(res.status).toBe(202)
    const id = ((await res.json()) as { notification: { notification_uuid: string } }).notification.notification_uuid
    await eventually(
      'the recovery to finish',
      async () => {
        const r = await c.api<{ notification: { status: string } }>('GET', `/v1/notifications/${id}`)
        return r.body.notification.status === 'finished' ? true : undefined
      },
      60_000,
      200,
    )

    const evacuated = (s: ReceivedSpan) => s.traceId === traceId && s.name === 'evacuate instance'
    // Spans are exported in batches (1 s): wait until every instance's evacuation arrived.
    await eventually(
      'every evacuation span',
      async () => (new Set(receiver.spans.filter(evacuated).map((s) => s.attributes['lazarus.instance.id'])).size >= victims.length ? true : undefined),
      20_000,
      200,
    )
    const ofTrace = () => receiver.spans.filter((s) => s.traceId === traceId)
    const ancestorsIn =
      (byId: Map<string, ReceivedSpan>) =>
      (s: ReceivedSpan): ReceivedSpan[] => {
        const chain: ReceivedSpan[] = []
        let parent = s.parentSpanId ? byId.get(s.parentSpanId) : undefined
        while (parent) {
          chain.push(parent)
          parent = parent.parentSpanId ? byId.get(parent.parentSpanId) : undefined
        }
        return chain
      }
    // Each process exports its own batches: a span may arrive before its parent from another
    // process does. Wait (bounded) until every span's chain reaches the api's request; a
    // parent that never comes fails the assertions below.
    await eventually(
      "every span's parents",
      async () => {
        const all = ofTrace()
        const byId = new Map(all.map((s) => [s.spanId, s]))
        const req = all.find((s) => s.service === 'lazarus-api' && s.kind === 2)
        return req && all.every((s) => s === req || ancestorsIn(byId)(s).includes(req)) ? true : undefined
      },
      10_000,
      200,
    ).catch(() => undefined)
    const spans = ofTrace()
    const byId = new Map(spans.map((s) => [s.spanId, s]))
    const ancestors = ancestorsIn(byId)

    const request = spans.find((s) => s.service === 'lazarus-api' && s.kind === 2)
    expect(request?.parentSpanId).toBe(callerSpan)
    expect(request?.name).toBe('POST /v1/notifications')

    // Every span descends from the api's request span through spans of this trace.
    for (const s of spans) {
      if (s === request) continue
      expect(ancestors(s), `${s.service} ${s.name}`).toContain(request)
    }

    const fence = spans.filter((s) => s.service === 'lazarus-fencer' && s.name.startsWith('fence '))
    expect(fence.length).toBeGreaterThan(0)
    for (const f of fence) expect(f.attributes['lazarus.host']).toBe(victim)
    // A fence step runs in the fencer's consumer span of the event the api published.
    const fenceDelivery = byId.get(fence[0]!.parentSpanId!)
    expect(fenceDelivery?.kind).toBe(5)
    expect(fenceDelivery?.service).toBe('lazarus-fencer')

    const evacuations = spans.filter(evacuated)
    expect(new Set(evacuations.map((s) => s.attributes['lazarus.instance.id']))).toEqual(new Set(victims.map((v) => v.id)))
    for (const e of evacuations) {
      expect(e.service).toBe('lazarus-evacuator')
      expect(byId.get(e.parentSpanId!)?.kind).toBe(5)
      // The fence comes before every evacuation in the chain of causes.
      expect(ancestors(e).some((a) => a.service === 'lazarus-fencer')).toBe(true)
    }
    expect(receiver.rejected).toEqual([])
  })
})
