import { describe, expect, it } from 'vitest'
import { hostNameProblem, NatsConfigInputError, parseHosts, permissionsFor, renderNatsAuthorization } from './nats-config.js'

const KEY = (c: string) => `U${c.repeat(55)}`

describe('nats-config host names', () => {
  it('takes plain names and FQDNs, from flags and a file', () => {
    expect(parseHosts(['compute-1'], '# rack 7\ncompute-2.example\n\n  compute_3  # spare\n')).toEqual(['compute-1', 'compute-2.example', 'compute_3'])
  })

  it.each([
    ['*', /wildcard/],
    ['compute-1.>', /wildcard/],
    ['compute.*', /wildcard/],
    ['a b', /white space/],
    ['a\tb', /white space/],
    ['a..b', /empty/],
    ['.a', /empty/],
    ['a.', /empty/],
    ['a"b', /only letters/],
    ['a}b', /only letters/],
    ['a/b', /only letters/],
    ['', /empty/],
    ['x'.repeat(254), /253/],
  ])('refuses %j', (host, why) => {
    expect(hostNameProblem(host)).toMatch(why)
    expect(() => parseHosts([host])).toThrow(NatsConfigInputError)
  })

  it('refuses duplicates and an empty list', () => {
    expect(() => parseHosts(['a', 'a'])).toThrow(/listed twice/)
    expect(() => parseHosts([], '# nothing\n')).toThrow(/no hosts/)
  })
})

describe('nats-config authorization', () => {
  const base = { heartbeatPrefix: 'lazarus.heartbeat', detectorPrefix: 'lazarus.detector', leaseBucket: 'leases', detector: { publicKey: KEY('D') } }

  it('an agent may publish its own heartbeat subject only, and subscribe to nothing', () => {
    expect(permissionsFor.agent('compute-1', 'lazarus.heartbeat')).toEqual({ publish: { allow: ['lazarus.heartbeat.compute-1'] }, subscribe: { deny: ['>'] } })
    const conf = renderNatsAuthorization({ ...base, agents: [{ host: 'compute-1', publicKey: KEY('A') }] })
    expect(conf).toContain(`nkey: "${KEY('A')}"`)
    expect(conf).toContain('publish: { allow: ["lazarus.heartbeat.compute-1"] }')
    expect(conf).not.toMatch(/no_auth_user|allow: \[">"\]/)
  })

  it('refuses names that would widen a permission, and keys that are not nkey users', () => {
    expect(() => renderNatsAuthorization({ ...base, heartbeatPrefix: 'lazarus.*', agents: [] })).toThrow(/no wildcards/)
    expect(() => renderNatsAuthorization({ ...base, leaseBucket: 'a.b', agents: [] })).toThrow(/lease bucket/)
    expect(() => renderNatsAuthorization({ ...base, agents: [{ host: 'a.>', publicKey: KEY('A') }] })).toThrow(/wildcard/)
    expect(() => renderNatsAuthorization({ ...base, agents: [{ host: 'a', publicKey: 'SUAAAA' }] })).toThrow(/not an nkey user public key/)
  })
})
