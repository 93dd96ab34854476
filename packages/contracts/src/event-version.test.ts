import { describe, expect, it } from 'vitest'
import { EVENT_SCHEMA_VERSION, readEventVersion, readMessageVersion } from './event-version.js'
import { makeEvent } from './make-event.js'

describe('readEventVersion', () => {
  it('accepts its own version and any minor of the same major', () => {
    expect(readEventVersion('1.0')).toEqual({ accept: true, version: '1.0' })
    expect(readEventVersion('1.9', '1.0')).toEqual({ accept: true, version: '1.9' })
    expect(readEventVersion('1.0', '1.4')).toEqual({ accept: true, version: '1.0' })
  })
  it('reads a message without a version as 1.0 (producers of the first release)', () => {
    expect(readEventVersion(undefined)).toEqual({ accept: true, version: '1.0' })
    expect(readMessageVersion({ id: 'x', type: 'host.failed.v1' })).toEqual({ accept: true, version: '1.0' })
    expect(readEventVersion(undefined, '2.0').accept).toBe(true)
  })
  it('refuses a newer major, saying so', () => {
    const v = readEventVersion('2.0', '1.3')
    expect(v.accept).toBe(false)
    if (!v.accept) expect(v.reason).toMatch(/2\.0.*newer major.*1\.3/)
  })
  it('refuses an older major it has no reader for', () => {
    expect(readEventVersion('1.2', '2.0').accept).toBe(false)
  })
  it('refuses what is not "<major>.<minor>"', () => {
    for (const bad of ['1', '1.0.0', 'v1.0', '', ' 1.0', 1, null, {}, '1234567.0']) expect(readEventVersion(bad).accept).toBe(false)
    expect(readMessageVersion({ schemaVersion: 2 }).accept).toBe(false)
  })
  it('every event a publisher makes carries the current version', () => {
    const e = makeEvent({ type: 'host.failed.v1', payload: {} as never, correlationId: 'c', source: 's' })
    expect(e.schemaVersion).toBe(EVENT_SCHEMA_VERSION)
    expect(readMessageVersion(e).accept).toBe(true)
  })
})
