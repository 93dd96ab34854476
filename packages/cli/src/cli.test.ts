import { describe, expect, it } from 'vitest'
import { boolValue, commandHelp, parseCommandLine } from './cli.js'
import { commands } from './commands/index.js'
import { buildPayload, exitForStatus } from './commands/notifications.js'
import { CliError, Exit } from './errors.js'
import { faultMessage, networkReason, urlHint } from './api-client.js'

const usage = (fn: () => unknown) => {
  try {
    fn()
  } catch (err) {
    return (err as CliError).exitCode
  }
  return undefined
}

describe('parseCommandLine', () => {
  it('finds the command and its arguments, with global options anywhere', () => {
    const p = parseCommandLine(commands, ['--url', 'http://x:1', 'host', 'maintenance', 'on', 'seg', 'h1', '--json'])
    expect(p.command?.path).toEqual(['host', 'maintenance'])
    expect(p.args).toEqual(['on', 'seg', 'h1'])
    expect(p.opts).toMatchObject({ url: 'http://x:1', json: true })
  })

  it('collects repeated options', () => {
    const p = parseCommandLine(commands, ['notification', 'create', '--host', 'c1', '--set', 'a=1', '--set', 'b=2'])
    expect(p.opts['set']).toEqual(['a=1', 'b=2'])
  })

  it('makes unknown options, missing and extra arguments and bad choices usage errors (exit 2)', () => {
    expect(usage(() => parseCommandLine(commands, ['segment', 'list', '--bogus']))).toBe(Exit.usage)
    expect(usage(() => parseCommandLine(commands, ['segment', 'show']))).toBe(Exit.usage)
    expect(usage(() => parseCommandLine(commands, ['segment', 'show', 'a', 'b']))).toBe(Exit.usage)
    expect(usage(() => parseCommandLine(commands, ['host', 'maintenance', 'maybe', 's', 'h']))).toBe(Exit.usage)
  })

  it('reports a group or unknown words without a command', () => {
    expect(parseCommandLine(commands, ['segment']).command).toBeUndefined()
    expect(parseCommandLine(commands, ['segment']).group).toEqual(['segment'])
    expect(parseCommandLine(commands, ['segment', 'list', '--help']).help).toBe(true)
  })

  it('writes help for every command', () => {
    for (const c of commands) expect(commandHelp(c)).toContain(`lazarus ${c.path.join(' ')}`)
  })
})

describe('values', () => {
  it('reads booleans the way operators write them', () => {
    expect(boolValue('x', 'yes')).toBe(true)
    expect(boolValue('x', 'False')).toBe(false)
    expect(usage(() => boolValue('x', 'maybe'))).toBe(Exit.usage)
  })

  it('builds notification payloads', () => {
    expect(buildPayload('COMPUTE_HOST', undefined, [])).toEqual({ event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' })
    expect(buildPayload('COMPUTE_HOST', '{"event":"STARTED"}', ['host_status=UNKNOWN'])).toEqual({ event: 'STARTED', host_status: 'UNKNOWN' })
    expect(usage(() => buildPayload('PROCESS', undefined, []))).toBe(Exit.usage)
    expect(usage(() => buildPayload('VM', '[1]', []))).toBe(Exit.usage)
    expect(usage(() => buildPayload('VM', undefined, ['novalue']))).toBe(Exit.usage)
  })

  it('maps a final status to the watch exit code', () => {
    expect(exitForStatus('finished')).toBe(0)
    expect(exitForStatus('failed')).toBe(1)
    expect(exitForStatus('error')).toBe(1)
    expect(exitForStatus('ignored')).toBe(3)
  })
})

describe('api client helpers', () => {
  it("reads Masakari's fault body", () => {
    expect(faultMessage({ itemNotFound: { code: 404, message: 'No segment' } })).toBe('No segment')
    expect(faultMessage({ message: 'plain' })).toBe('plain')
    expect(faultMessage('text')).toBeUndefined()
  })

  it('names the network failure hidden in the cause chain', () => {
    const refused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) })
    expect(networkReason(refused)).toBe('connection refused')
    const aggregate = new TypeError('fetch failed', { cause: Object.assign(new AggregateError([Object.assign(new Error('x'), { code: 'ENOTFOUND' })]), {}) })
    expect(networkReason(aggregate)).toBe('no such host')
  })

  it('points at where the URL came from', () => {
    expect(urlHint({ urlSource: 'default', configPath: '/c' })).toBe('set --url or LAZARUS_URL')
    expect(urlHint({ urlSource: 'file', configPath: '/c' })).toContain('/c')
  })
})
