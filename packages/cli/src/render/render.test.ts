import { describe, expect, it } from 'vitest'
import type { NotificationEvent, Vmove } from '@lazarus/api-contract'
import { duration, payloadText, when } from './format.js'
import { bar, diffSnapshot, initialWatchState, liveBlock, overallFraction, summaryLine, summaryTable } from './progress.js'
import { renderRecord, renderTable } from './table.js'
import { maskControlAttributes } from './views.js'

const vmove = (over: Partial<Vmove>): Vmove => ({
  uuid: 'v1',
  instance_uuid: 'i1',
  instance_name: 'vm1',
  source_host: 'c1',
  dest_host: null,
  start_time: null,
  end_time: null,
  status: 'pending',
  ...over,
})

const snap = (status: string, details: { name: string; progress: number; msgs: [string, string][] }[], vmoves: Vmove[] = []): NotificationEvent => ({
  notification: {
    notification_uuid: '9967deb1-6c83-409e-926d-7d0382950997',
    type: 'COMPUTE_HOST',
    status,
    message: status === 'finished' ? 'evacuated all 1 instance(s) of c1' : null,
    recovery_workflow_details: details.map((d) => ({
      name: d.name,
      state: 'RUNNING',
      progress: d.progress,
      progress_details: d.msgs.map(([timestamp, message]) => ({ timestamp, message, progress: '1.0' })),
    })),
  },
  vmoves,
})

describe('tables', () => {
  it('pads columns to the widest cell under a rule', () => {
    expect(
      renderTable(
        ['a', 'bbb'],
        [
          ['xx', 'y'],
          ['z', 'w\nv'],
        ],
      ),
    ).toBe(['a   bbb', '--  ---', 'xx  y', 'z   w v'].join('\n'))
  })
  it('aligns records', () => {
    expect(
      renderRecord([
        ['k', 'v'],
        ['long', 'w'],
      ]),
    ).toBe('k     v\nlong  w')
  })
  it('hides BMC passwords', () => {
    expect(maskControlAttributes('driver=redfish username=u password=s3cret token="a b"')).toBe('driver=redfish username=u password=*** token=***')
  })
})

describe('formatting', () => {
  it('formats times, durations and payloads', () => {
    expect(when('2025-01-02T03:04:05.678Z')).toBe('2025-01-02 03:04:05Z')
    expect(when(null)).toBe('-')
    expect(duration('2025-01-02T03:04:05.000Z', '2025-01-02T03:04:06.500Z')).toBe('1.50')
    expect(duration(null, '2025-01-02T03:04:06.500Z')).toBe('-')
    expect(payloadText({ event: 'STOPPED', n: 1 })).toBe('event=STOPPED n=1')
  })
  it('draws bars, clamped', () => {
    expect(bar(0.5, 10)).toBe('[█████░░░░░]  50%')
    expect(bar(2, 4)).toBe('[████] 100%')
    expect(bar(Number.NaN, 4)).toBe('[░░░░]   0%')
  })
})

describe('diffSnapshot', () => {
  it('prints each step once, in time order, then instance changes, then the status change', () => {
    const s1 = snap('running', [
      { name: 'fence_host', progress: 1, msgs: [['2025-01-01T00:00:01Z', 'fenced']] },
      { name: 'detect', progress: 1, msgs: [['2025-01-01T00:00:00Z', 'failed']] },
    ])
    const a = diffSnapshot(initialWatchState(), s1, 1000)
    expect(a.lines.map((l) => l.replace(/^t\+\s*[\d.]+s\s+/, ''))).toEqual([
      expect.stringMatching(/^detect\s+failed$/),
      expect.stringMatching(/^fence_host\s+fenced$/),
      'status running',
    ])

    const again = diffSnapshot(a.state, s1, 1500)
    expect(again.lines).toEqual([])

    const done = vmove({ status: 'succeeded', dest_host: 'c2', start_time: '2025-01-01T00:00:02Z', end_time: '2025-01-01T00:00:03Z' })
    const s2 = snap('finished', [{ name: 'fence_host', progress: 1, msgs: [['2025-01-01T00:00:01Z', 'fenced']] }], [done])
    const b = diffSnapshot(a.state, s2, 3000)
    expect(b.lines).toHaveLength(2)
    expect(b.lines[0]).toMatch(/100%\s+vm1\s+c1 → c2\s+succeeded 1\.00s/)
    expect(b.lines[1]).toMatch(/status running → finished: evacuated all 1 instance/)
  })

  it('follows the evacuation task for the overall bar', () => {
    expect(overallFraction(snap('running', [{ name: 'evacuate_instances_task', progress: 0.5, msgs: [] }]))).toBe(0.5)
    expect(overallFraction(snap('running', [], [vmove({ status: 'succeeded' }), vmove({ instance_uuid: 'i2' })]))).toBe(0.5)
    expect(liveBlock(snap('running', [], [vmove({})]), 0)).toHaveLength(2)
  })

  it('sums up every instance', () => {
    const s = snap(
      'finished',
      [],
      [
        vmove({ status: 'succeeded', dest_host: 'c2', start_time: '2025-01-01T00:00:00Z', end_time: '2025-01-01T00:00:02Z' }),
        vmove({ instance_uuid: 'i2', instance_name: '', status: 'failed', message: 'no host' }),
      ],
    )
    const t = summaryTable(s.vmoves).split('\n')
    expect(t[0]).toMatch(/^instance\s+from\s+to\s+seconds\s+result$/)
    expect(t[2]).toMatch(/^vm1\s+c1\s+c2\s+2\.00\s+succeeded$/)
    expect(t[3]).toMatch(/^i2\s+c1\s+-\s+-\s+failed$/)
    expect(summaryLine(s, 2000)).toContain('1 of 2 instance(s) moved, 1 failed')
  })
})
