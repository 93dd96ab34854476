import { describe, expect, it } from 'vitest'
import { formatKinds, parseNovaApiLine, requestKind, tallyNovaApiLog } from './nova-api-log.js'

// Lines of the openstack-box's /tmp/osbox/nova-api.log (nova-api as the eventlet service; its
// colour handler ends each line with a reset sequence), ids replaced. The 404 is a real line with
// its status changed; the os-migrations line is in the request-log middleware's format (nova-api
// under a WSGI server), and the last line is a message quoting such words: not a request.
const ESC = '\u001b'
const USER = 'None req-13019535-2048-48a7-bc6a-d10fe8db8403 0f0f0f0f0f0f4f0f8f0f0f0f0f0f0f0f 1a1a1a1a1a1a4a1a8a1a1a1a1a1a1a1a - - default default'
const LOG = [
  `===== 2026-12-05T05:23:43+00:00 starting: nova-api --config-file /etc/nova/nova.conf`,
  `2026-12-05 05:23:43.492 15825 WARNING oslo_messaging.rpc.client [-] Using RPCClient manually to instantiate client. Please use get_rpc_client to obtain an RPC client instance.${ESC}[00m`,
  `2026-12-05 05:23:46.648 15993 INFO nova.osapi_compute.wsgi.server [-] 127.0.0.1 "GET / HTTP/1.1" status: 200 len: 476 time: 0.0273647${ESC}[00m`,
  `2026-12-05 05:23:50.131 15993 INFO nova.osapi_compute.wsgi.server [${USER}] 127.0.0.1 "GET /v2.1/os-services?binary=nova-compute HTTP/1.1" status: 200 len: 604 time: 1.9764495${ESC}[00m`,
  `2026-12-05 05:25:46.656 15993 INFO nova.osapi_compute.wsgi.server [${USER}] 127.0.0.1 "PUT /v2.1/os-services/8a3d8c29-388f-482d-93e2-8b6f9539a9df HTTP/1.1" status: 200 len: 650 time: 0.0322831${ESC}[00m`,
  `2026-12-05 05:25:47.448 15993 INFO nova.osapi_compute.wsgi.server [${USER}] 127.0.0.1 "POST /v2.1/servers/da0204f4-613c-405b-85c5-9167ebb0f7b4/action HTTP/1.1" status: 200 len: 399 time: 0.7639635${ESC}[00m`,
  `2026-12-05 05:25:47.512 15991 INFO nova.osapi_compute.wsgi.server [${USER}] 127.0.0.1 "POST /v2.1/servers/6fd44d38-8c58-40e2-b95c-730702d6f25d/action HTTP/1.1" status: 200 len: 399 time: 0.7012001${ESC}[00m`,
  `2026-12-05 05:25:52.177 15993 INFO nova.osapi_compute.wsgi.server [${USER}] 127.0.0.1 "GET /v2.1/servers/detail?all_tenants=1 HTTP/1.1" status: 200 len: 37120 time: 1.3127413${ESC}[00m`,
  `2026-12-05 05:25:52.691 15993 INFO nova.osapi_compute.wsgi.server [${USER}] 127.0.0.1 "GET /v2.1/servers/6fd44d38-8c58-40e2-b95c-730702d6f25d HTTP/1.1" status: 404 len: 2145 time: 0.1673629${ESC}[00m`,
  `2026-12-05 05:25:53.004 15991 INFO nova.api.openstack.requestlog [${USER}] 127.0.0.1 "GET /v2.1/os-migrations?source_compute=compute2&migration_type=evacuation&changes-since=2026-12-05T05%3A25%3A40Z" status: 200 len: 1021 microversion: 2.93 time: 0.041000`,
  `2026-12-05 05:25:53.100 15991 ERROR nova.api.openstack.wsgi [${USER}] Unexpected exception in API method: status: 500 len: 0 time: 1`,
].join('\n')

describe("nova-api's log", () => {
  it('reads a request line: when, what, how long', () => {
    const r = parseNovaApiLine(LOG.split('\n')[5]!)
    expect(r).toEqual({
      // The box writes local time.
      at: new Date(2026, 11, 5, 5, 25, 47, 448).getTime(),
      method: 'POST',
      target: '/v2.1/servers/da0204f4-613c-405b-85c5-9167ebb0f7b4/action',
      kind: 'POST /servers/{id}/action',
      status: 200,
      seconds: 0.7639635,
    })
    expect(parseNovaApiLine(LOG.split('\n')[1]!)).toBeUndefined()
  })

  it('names kinds by path, ids and query values left out', () => {
    expect(requestKind('GET', '/v2.1/servers/detail?all_tenants=1&host=compute2')).toBe('GET /servers/detail?all_tenants&host')
    expect(requestKind('GET', '/v2.1/os-migrations?source_compute=c2&migration_type=evacuation&changes-since=x&source_compute=c3')).toBe(
      'GET /os-migrations?changes-since&migration_type&source_compute',
    )
    expect(requestKind('GET', '/v2.1/1a1a1a1a1a1a4a1a8a1a1a1a1a1a1a1a/servers/42')).toBe('GET /{id}/servers/{id}')
    expect(requestKind('GET', '/v2.1/')).toBe('GET /v2.1/')
    expect(requestKind('GET', '/')).toBe('GET /')
  })

  it('counts the requests of a stretch of log by kind, with their nova-api time', () => {
    const t = tallyNovaApiLog(LOG)
    expect(t.requests).toBe(8)
    expect(t.failed).toBe(1)
    expect(t.seconds).toBeCloseTo(0.0273647 + 1.9764495 + 0.0322831 + 0.7639635 + 0.7012001 + 1.3127413 + 0.1673629 + 0.041, 6)
    expect(t.kinds[0]).toEqual({ kind: 'POST /servers/{id}/action', count: 2, seconds: expect.closeTo(1.4651636, 6), failed: 0 })
    expect(t.kinds.map((k) => k.kind)).toContain('GET /os-migrations?changes-since&migration_type&source_compute')
    expect(formatKinds(t.kinds, 2)).toBe('POST /servers/{id}/action 2, GET /os-services?binary 1, 5 more kind(s): 5')
  })

  it('keeps to a time window', () => {
    const t = tallyNovaApiLog(LOG, { from: new Date(2026, 11, 5, 5, 25, 47, 448).getTime(), to: new Date(2026, 11, 5, 5, 25, 52, 691).getTime() })
    expect(t.kinds.map((k) => [k.kind, k.count, k.failed])).toEqual([
      ['POST /servers/{id}/action', 2, 0],
      ['GET /servers/detail?all_tenants', 1, 0],
      ['GET /servers/{id}', 1, 1],
    ])
  })

  it('reads a part cut anywhere: a torn first or last line counts for nothing', () => {
    const cut = LOG.slice(LOG.indexOf('"GET /v2.1/os-services?binary'), LOG.indexOf('status: 404'))
    expect(tallyNovaApiLog(cut).requests).toBe(4)
  })
})
