import { describe, expect, it } from 'vitest'
import { startNode } from '../support/processes.js'

/**
 * The README's first command runs this demo: the whole system in one process against cloud-sim.
 * Before the crash it prints the segment's failover capacity and the plan of the victim's
 * failure; the recovery then puts every instance where the plan said (the evacuator plans with
 * the same planner, EVACUATION_TARGETS=planner), and the demo exits 0 only then.
 */
describe('the demo', () => {
  it('prints the plan of the failure beforehand, and every instance lands on the host it named', async () => {
    const demo = startNode('demo', 'services/all-in-one/dist/demo.js', { LOG_LEVEL: 'error' }, { args: ['--hosts', '5', '--instances', '4', '--evacuation-delay-ms', '50'] })
    const code = await new Promise<number | null>((r) => demo.child.once('exit', r))
    const text = demo.lines.join('\n')
    expect(code, text).toBe(0)
    expect(text).toMatch(/segment "demo" tolerates [1-9]\d* host failure\(s\)/)
    // The plan, instance by instance, and the table of where each one went.
    const planned = new Map([...text.matchAll(/^ {2}(compute1-vm\d) → (compute\d)/gm)].map((m) => [m[1], m[2]]))
    const landed = new Map([...text.matchAll(/^(compute1-vm\d) +compute1 +(compute\d) +ACTIVE/gm)].map((m) => [m[1], m[2]]))
    expect(planned.size).toBe(4)
    expect(landed).toEqual(planned)
    // Spread over the four survivors, not piled on one.
    expect(new Set(planned.values()).size).toBe(4)
    expect(text).toContain('4 of 4 instance(s) landed on the host the plan named.')
  }, 120_000)
})
