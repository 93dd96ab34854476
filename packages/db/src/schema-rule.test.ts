import { describe, expect, it } from 'vitest'
import { decideSchema, schemaState } from './schema-rule.js'

const known = [{ id: '001-a' }, { id: '002-b', kind: 'expand' as const }, { id: '003-c', kind: 'contract' as const }]

describe('decideSchema', () => {
  it('is ready when every expand migration it knows is applied, a known contract one still pending', () => {
    const v = decideSchema(
      'api',
      known,
      [
        { id: '001-a', kind: 'expand' },
        { id: '002-b', kind: 'expand' },
      ],
      { autoMigrate: false },
    )
    expect(v.action).toBe('ready')
    expect(v.pendingContract).toEqual(['003-c'])
  })
  it('migrates the missing expand migrations when auto-migrate is on', () => {
    const v = decideSchema('api', known, [{ id: '001-a', kind: 'expand' }], { autoMigrate: true })
    expect(v).toMatchObject({ action: 'migrate', pendingExpand: ['002-b'] })
  })
  it('refuses a missing expand migration when auto-migrate is off, naming it and the command', () => {
    const v = decideSchema('fencer', known, [{ id: '001-a', kind: 'expand' }], { autoMigrate: false })
    expect(v.action).toBe('refuse')
    if (v.action === 'refuse') expect(v.reason).toMatch(/fencer.*002-b.*lazarus db migrate/)
  })
  it('runs on an expand migration it does not know (a newer build added it)', () => {
    const applied = [
      { id: '001-a', kind: 'expand' as const },
      { id: '002-b', kind: 'expand' as const },
      { id: '004-new', kind: 'expand' as const },
    ]
    const v = decideSchema('api', known, applied, { autoMigrate: false })
    expect(v).toMatchObject({ action: 'ready', unknownExpand: ['004-new'] })
  })
  it('refuses a contract migration it does not know, whatever auto-migrate says', () => {
    for (const autoMigrate of [true, false]) {
      const v = decideSchema(
        'evacuator',
        known,
        [
          { id: '001-a', kind: 'expand' },
          { id: '009-drop', kind: 'contract' },
        ],
        { autoMigrate },
      )
      expect(v.action).toBe('refuse')
      if (v.action === 'refuse') expect(v.reason).toMatch(/evacuator.*contract.*009-drop/)
    }
  })
  it('knows an applied contract migration it owns', () => {
    const v = decideSchema(
      'api',
      known,
      [
        { id: '001-a', kind: 'expand' },
        { id: '002-b', kind: 'expand' },
        { id: '003-c', kind: 'contract' },
      ],
      { autoMigrate: false },
    )
    expect(v).toMatchObject({ action: 'ready', pendingContract: [], unknownContract: [] })
  })
  it('a fresh schema: every migration pending', () => {
    expect(schemaState(known, [])).toEqual({ pendingExpand: ['001-a', '002-b'], pendingContract: ['003-c'], unknownExpand: [], unknownContract: [] })
  })
})
