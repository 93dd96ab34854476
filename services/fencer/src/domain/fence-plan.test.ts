import { randomUUID } from 'node:crypto'
import type { HostSnapshot, SegmentSnapshot } from '@lazarus/contracts'
import { describe, expect, it } from 'vitest'
import { decideFence, fencedFacts, remainingSteps, stepsForLevel } from './fence-plan.js'

const segment = (level: 1 | 2 | 3): SegmentSnapshot => ({
  id: randomUUID(),
  name: 's',
  recoveryMethod: 'auto',
  serviceType: 'compute',
  enabled: true,
  quickEvacuateLevel: level,
})
const host = (controlAttributes: string): HostSnapshot => ({
  id: randomUUID(),
  name: 'compute-01',
  type: 'COMPUTE',
  controlAttributes,
  reserved: false,
  onMaintenance: false,
})
const REDFISH = 'driver=redfish address=https://bmc/redfish/v1/Systems/1 username=a password_file=/etc/lazarus/bmc/compute-01'

describe('fence plan', () => {
  it('runs the steps of each level in order', () => {
    expect(stepsForLevel(1)).toEqual(['force_down_compute_service', 'confirm_compute_down'])
    expect(stepsForLevel(2)).toEqual(['power_off_host', 'confirm_power_off', 'force_down_compute_service', 'confirm_compute_down'])
    expect(stepsForLevel(3)).toEqual(['power_off_host', 'confirm_power_off', 'wait_compute_down'])
  })

  it('resumes after the last recorded step', () => {
    expect(remainingSteps(2, 'started')).toEqual(stepsForLevel(2))
    // A power off the BMC accepted is confirmed on resume, never sent again.
    expect(remainingSteps(2, 'power_off_sent')).toEqual(['confirm_power_off', 'force_down_compute_service', 'confirm_compute_down'])
    expect(remainingSteps(3, 'power_off_sent')).toEqual(['confirm_power_off', 'wait_compute_down'])
    expect(remainingSteps(2, 'powered_off')).toEqual(['force_down_compute_service', 'confirm_compute_down'])
    expect(remainingSteps(2, 'forced_down')).toEqual(['confirm_compute_down'])
    expect(remainingSteps(3, 'powered_off')).toEqual(['wait_compute_down'])
    expect(remainingSteps(1, 'forced_down')).toEqual(['confirm_compute_down'])
    expect(remainingSteps(2, 'fenced')).toEqual([])
    expect(remainingSteps(2, 'failed')).toEqual([])
    expect(remainingSteps(2, 'unfenced')).toEqual([])
  })

  it('takes the segment level unless the host overrides it', () => {
    expect(decideFence(host(REDFISH), segment(2))).toMatchObject({ ok: true, level: 2, needsPower: true })
    expect(decideFence(host(`${REDFISH} quick_evacuate_level=1`), segment(2))).toMatchObject({ ok: true, level: 1, needsPower: false })
    expect(decideFence(host(`${REDFISH} quick_evacuate_level=3`), segment(1))).toMatchObject({ ok: true, level: 3, needsPower: true })
  })

  it('needs no power driver at level 1', () => {
    expect(decideFence(host(''), segment(1))).toMatchObject({ ok: true, level: 1, needsPower: false })
    expect(decideFence(host('driver=none'), segment(1))).toMatchObject({ ok: true, level: 1 })
  })

  it('refuses level 2 or 3 without a power driver, saying what to set', () => {
    const d = decideFence(host(''), segment(2))
    expect(d).toMatchObject({ ok: false, level: 2 })
    if (!d.ok) expect(d.reason).toMatch(/compute-01.*name no fencing device.*driver=redfish/)
    expect(decideFence(host('driver=none'), segment(3))).toMatchObject({ ok: false, level: 3 })
  })

  // Masakari's docs register hosts with control_attributes "SSH" (issue #19).
  it('fences a host registered with free text at level 1, parsing nothing', () => {
    expect(decideFence(host('SSH'), segment(1))).toMatchObject({ ok: true, level: 1, needsPower: false })
  })

  it('fails a host registered with free text at levels 2 and 3, saying exactly what to set', () => {
    for (const level of [2, 3] as const) {
      const d = decideFence(host('SSH'), segment(level), { secretDir: '/srv/bmc' })
      expect(d).toMatchObject({ ok: false, level })
      if (!d.ok) {
        expect(d.reason).toBe(
          `host compute-01: quick_evacuate_level ${level} powers the host off, but control_attributes "SSH" name no fencing device; ` +
            'set driver=redfish address=https://<bmc>/redfish/v1/Systems/<id> username=<user> password_file=/srv/bmc/compute-01 ' +
            '(or driver=ipmi / driver=fence_agent with their attributes), or quick_evacuate_level=1',
        )
      }
    }
  })

  it('never echoes a password in a reason', () => {
    const d = decideFence(host('driver=none password=hunter2'), segment(2))
    expect(d.ok).toBe(false)
    if (!d.ok) expect(d.reason).not.toContain('hunter2')
  })

  it('refuses a bad attribute, naming the host and the attribute', () => {
    const d = decideFence(host('driver=redfish verify_tls=perhaps'), segment(1))
    expect(d.ok).toBe(false)
    if (!d.ok) expect(d.reason).toMatch(/host compute-01: control attribute "verify_tls"/)
  })

  it('says what each level guarantees', () => {
    expect(fencedFacts(1)).toEqual({ poweredOff: false, forcedDown: true })
    expect(fencedFacts(2)).toEqual({ poweredOff: true, forcedDown: true })
    expect(fencedFacts(3)).toEqual({ poweredOff: true, forcedDown: false })
  })
})
