import { describe, expect, it } from 'vitest'
import { summarizeRecovery } from './recovery-outcome.js'

describe('summarizeRecovery', () => {
  const a = { id: 'a', name: 'vm-a' }
  const b = { id: 'b', name: 'vm-b' }
  it('is finished when every instance moved', () => {
    const out = summarizeRecovery('c1', [{ instance: a, status: 'succeeded', destHost: 'c2', reason: null }])
    expect(out).toEqual({ status: 'finished', message: 'evacuated all 1 instance(s) of c1', moved: [{ instance: a, destHost: 'c2' }], failed: [] })
  })
  it('is failed when one did not, and names it', () => {
    const out = summarizeRecovery('c1', [
      { instance: a, status: 'succeeded', destHost: 'c2', reason: null },
      { instance: b, status: 'failed', destHost: null, reason: 'Nova refused' },
    ])
    expect(out.status).toBe('failed')
    expect(out.failed).toEqual([{ instance: b, reason: 'Nova refused' }])
    expect(out.message).toContain('evacuated 1 of 2')
    expect(out.message).toContain('vm-b (b): Nova refused')
  })
})
