import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { BUS_SERVICES, busRoles, topology, type BusService } from '@lazarus/contracts'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../support/processes.js'

/**
 * Each service's broker user may publish only the event types `busRoles` lists (the
 * broker refuses the rest, 403). A service that starts publishing another type without
 * its line in `busRoles` would fail in production only: this guard reads the services'
 * sources and fails first. An event type a service's code names must be one it publishes
 * or one its queues receive (handlers name those). No broker needed.
 */
const sources = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f)
    if (statSync(p).isDirectory()) return f === 'test-support' || f === 'testing' ? [] : sources(p)
    return f.endsWith('.ts') && !f.endsWith('.test.ts') ? [p] : []
  })

const namedTypes = (svc: BusService): Map<string, string> => {
  const found = new Map<string, string>()
  for (const file of sources(resolve(repoRoot, 'services', svc, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/'([a-z_]+\.[a-z_]+\.v\d+)'/g)) found.set(m[1]!, file.slice(repoRoot.length + 1))
  }
  return found
}

describe('busRoles against the services’ code', () => {
  it.each(BUS_SERVICES.filter((s) => s !== 'api'))('%s names no event type outside its role', (svc) => {
    const received = new Set(busRoles[svc].consumes.flatMap((q) => topology[q].bind as readonly string[]))
    const allowed = new Set<string>([...busRoles[svc].publishes, ...received])
    const outside = [...namedTypes(svc)].filter(([type]) => !allowed.has(type)).map(([type, file]) => `${type} (${file})`)
    expect(outside).toEqual([])
  })

  it('the api publishes what its store writes to the outbox', () => {
    const store = readdirSync(resolve(repoRoot, 'services/api/src/store')).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    const enqueued = new Set<string>()
    for (const f of store) {
      for (const m of readFileSync(resolve(repoRoot, 'services/api/src/store', f), 'utf8').matchAll(/type: '([a-z_]+\.[a-z_]+\.v\d+)'/g)) enqueued.add(m[1]!)
    }
    expect(enqueued.size).toBeGreaterThan(0)
    expect([...enqueued].filter((t) => !(busRoles.api.publishes as readonly string[]).includes(t))).toEqual([])
  })
})
