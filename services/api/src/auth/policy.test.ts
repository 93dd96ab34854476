import { describe, expect, it } from 'vitest'
import { parseCheckString } from './check-string.js'
import { ACTIONS, actionOf, allows, buildPolicy, legacyPolicyEntries, PolicyError, projectOfPath, type Caller } from './policy.js'

const caller = (roles: string[], projectId?: string): Caller => ({ roles: new Set(roles), projectId })
const admin = caller(['admin'], 'p1')
const member = caller(['member', 'reader'], 'p1')
const monitor = caller(['monitor'])

describe("the default policy (Masakari's)", () => {
  const policy = buildPolicy()

  it('given an admin, when it does anything, then it is allowed', () => {
    for (const action of ACTIONS) expect(allows(policy, action, admin), action).toBe(true)
  })

  it('given a member or reader of a project, when it reads or writes anything, then it is refused', () => {
    for (const action of ACTIONS) expect(allows(policy, action, member), action).toBe(false)
  })

  it('given a monitor, when it posts a notification (by /v1 or ingest), then it is allowed, and nothing else', () => {
    const allowed = ACTIONS.filter((a) => allows(policy, a, monitor))
    expect(allowed.sort()).toEqual(['lazarus:ingest:create', 'os_masakari_api:notifications:create'])
  })

  it("uses Masakari's action names for Masakari's routes, and lazarus: names for the extensions", () => {
    expect(actionOf('GET', '/v1/segments')).toBe('os_masakari_api:segments:index')
    expect(actionOf('GET', '/v1/0123abcd/segments/x')).toBe('os_masakari_api:segments:detail')
    expect(actionOf('DELETE', '/v1/segments/x/hosts/y')).toBe('os_masakari_api:os-hosts:delete')
    expect(actionOf('HEAD', '/v1/notifications/n')).toBe('os_masakari_api:notifications:detail')
    expect(actionOf('GET', '/v1/notifications/n/vmoves/v')).toBe('os_masakari_api:vmoves:detail')
    expect(actionOf('GET', '/v1/notifications/n/events')).toBe('lazarus:notifications:events')
    expect(actionOf('POST', '/v1/segments/s/pause')).toBe('lazarus:segments:pause')
    expect(actionOf('POST', '/v1/ingest/alertmanager')).toBe('lazarus:ingest:create')
    expect(actionOf('GET', '/v1/ingest/dead-letters')).toBe('lazarus:ingest:index')
    expect(actionOf('PATCH', '/v1/elsewhere')).toBe('lazarus:default')
    expect(projectOfPath('/v1/0123abcd/segments')).toBe('0123abcd')
    expect(projectOfPath('/v1/segments')).toBeUndefined()
  })
})

describe('a policy file', () => {
  it('given reads opened to readers of the owning project, when a reader of another project asks, then it is refused', () => {
    const policy = buildPolicy([
      { origin: 'file', entries: { 'os_masakari_api:segments:index': 'rule:admin_api or (role:reader and rule:owner)', owner: 'project_id:%(project_id)s' } },
    ])
    expect(allows(policy, 'os_masakari_api:segments:index', caller(['reader'], 'p1'), { project_id: 'p1' })).toBe(true)
    expect(allows(policy, 'os_masakari_api:segments:index', caller(['reader'], 'p2'), { project_id: 'p1' })).toBe(false)
    expect(allows(policy, 'os_masakari_api:segments:index', caller(['member'], 'p1'), { project_id: 'p1' })).toBe(false)
    expect(allows(policy, 'os_masakari_api:segments:create', caller(['reader'], 'p1'), { project_id: 'p1' })).toBe(false)
  })

  it('given `@`, `!`, an empty string and `not`, when evaluated, then they mean always, never, always and the opposite', () => {
    const policy = buildPolicy([
      {
        origin: 'file',
        entries: {
          'os_masakari_api:segments:index': '@',
          'os_masakari_api:segments:detail': '',
          'os_masakari_api:segments:create': '!',
          'os_masakari_api:segments:delete': 'not role:reader and role:admin or is_admin:True and not is_admin:False',
        },
      },
    ])
    const nobody = caller([])
    expect(allows(policy, 'os_masakari_api:segments:index', nobody)).toBe(true)
    expect(allows(policy, 'os_masakari_api:segments:detail', nobody)).toBe(true)
    expect(allows(policy, 'os_masakari_api:segments:create', admin)).toBe(false)
    expect(allows(policy, 'os_masakari_api:segments:delete', admin)).toBe(true)
    expect(allows(policy, 'os_masakari_api:segments:delete', caller(['admin', 'reader']))).toBe(true) // is_admin still holds
    expect(allows(policy, 'os_masakari_api:segments:delete', nobody)).toBe(false)
  })

  it('given context_is_admin redefined, when is_admin:True is checked, then the new rule decides', () => {
    const policy = buildPolicy([{ origin: 'file', entries: { context_is_admin: 'role:cloud-admin' } }])
    expect(allows(policy, 'os_masakari_api:segments:create', admin)).toBe(false)
    expect(allows(policy, 'os_masakari_api:segments:create', caller(['cloud-admin']))).toBe(true)
  })

  it('given a bad entry, when loaded, then it is refused naming the entry', () => {
    const bad = (entries: Record<string, unknown>) => () => buildPolicy([{ origin: 'POLICY_FILE p.yaml', entries }])
    expect(bad({ 'lazarus:segments:pauze': 'rule:admin_api' })).toThrow(/unknown action 'lazarus:segments:pauze'/)
    expect(bad({ 'os_masakari_api:segments:index': ['admin'] })).toThrow(/'os_masakari_api:segments:index' must be a check string/)
    expect(bad({ 'os_masakari_api:segments:index': 'role:admin or' })).toThrow(PolicyError)
    expect(bad({ 'os_masakari_api:segments:index': '(role:admin' })).toThrow(/not closed/)
    expect(bad({ 'os_masakari_api:segments:index': 'rule:nowhere' })).toThrow(/rule:nowhere/)
    expect(bad({ a: 'rule:b', b: 'rule:a' })).toThrow(/cycle/)
    expect(bad({ 'os_masakari_api:segments:index': 'http://example.com' })).toThrow(/http/)
  })

  it("given Masakari's other names (discoverable), when loaded, then they are kept and reported unused", () => {
    const policy = buildPolicy([{ origin: 'file', entries: { 'os_masakari_api:segments:discoverable': 'rule:admin_api' } }])
    expect(policy.unused).toEqual(['os_masakari_api:segments:discoverable'])
  })
})

describe('the former POLICY setting', () => {
  it('given {"old action": [roles]}, when read, then the roles apply to the new name(s)', () => {
    const entries = legacyPolicyEntries('{"segments:delete": ["ha-operator"], "notifications:show": ["reader"], "os_masakari_api:segments:index": "role:x"}')
    expect(entries).toEqual({
      'os_masakari_api:segments:delete': 'role:ha-operator',
      'os_masakari_api:notifications:detail': 'role:reader',
      'lazarus:notifications:events': 'role:reader',
      'os_masakari_api:segments:index': 'role:x',
    })
    const policy = buildPolicy([{ origin: 'POLICY', entries }])
    expect(allows(policy, 'os_masakari_api:segments:delete', caller(['ha-operator']))).toBe(true)
    expect(allows(policy, 'os_masakari_api:segments:delete', admin)).toBe(false)
  })

  it('given an unknown old name or a malformed list, when read, then it is refused', () => {
    expect(() => legacyPolicyEntries('{"segments:nuke": ["admin"]}')).toThrow(/unknown action 'segments:nuke'/)
    expect(() => legacyPolicyEntries('{"segments:delete": []}')).toThrow(/non-empty list/)
    expect(() => legacyPolicyEntries('{"segments:delete": ["a or b"]}')).toThrow(/non-empty list/)
    expect(() => legacyPolicyEntries('nope')).toThrow(/not JSON/)
  })
})

describe('check strings', () => {
  it("parse with oslo.policy's precedence (not, and, or) and parentheses around %(attr)s", () => {
    expect(parseCheckString('(role:a or project_id:%(project_id)s) and not role:b')).toEqual({
      kind: 'and',
      checks: [
        {
          kind: 'or',
          checks: [
            { kind: 'role', role: 'a' },
            { kind: 'generic', key: 'project_id', target: 'project_id' },
          ],
        },
        { kind: 'not', check: { kind: 'role', role: 'b' } },
      ],
    })
  })
})
