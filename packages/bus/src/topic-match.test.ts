import { describe, expect, it } from 'vitest'
import { matchesTopic } from './topic-match.js'

describe('matchesTopic', () => {
  it.each([
    ['host.failed.v1', 'host.failed.v1', true],
    ['host.failed.v1', 'host.failed.v2', false],
    ['host.*.v1', 'host.failed.v1', true],
    ['host.*.v1', 'host.fence.failed.v1', false],
    ['host.*', 'host', false],
    ['host.#', 'host', true],
    ['host.#', 'host.failed.v1', true],
    ['#', 'anything.at.all', true],
    ['#', '', true],
    ['#.v1', 'host.failed.v1', true],
    ['#.v1', 'v1', true],
    ['#.v1', 'host.failed.v2', false],
    ['host.#.v1', 'host.v1', true],
    ['host.#.v1', 'host.a.b.v1', true],
    ['*.*', 'a.b', true],
    ['*.*', 'a', false],
    ['*', '', true],
  ])('%s against %s: %s', (pattern, key, expected) => {
    expect(matchesTopic(pattern, key)).toBe(expected)
  })
})
