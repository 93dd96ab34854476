import { describe, expect, it } from 'vitest'
import { configPath, DEFAULT_URL, normaliseUrl, resolveConfig } from './config.js'
import { type CliError, Exit } from './errors.js'

const file = (json: unknown) => () => JSON.stringify(json)

describe('resolveConfig', () => {
  it('takes flags over env over the config file', () => {
    const readFile = file({ url: 'http://file:1', token: 'f' })
    const env = { LAZARUS_URL: 'http://env:2', LAZARUS_TOKEN: 'e' }
    expect(resolveConfig({ flags: { url: 'http://flag:3', token: 't' }, env, readFile })).toMatchObject({ url: 'http://flag:3', token: 't', urlSource: 'flag' })
    expect(resolveConfig({ flags: {}, env, readFile })).toMatchObject({ url: 'http://env:2', token: 'e', urlSource: 'env' })
    expect(resolveConfig({ flags: {}, env: {}, readFile })).toMatchObject({ url: 'http://file:1', token: 'f', urlSource: 'file' })
    expect(resolveConfig({ flags: {}, env: {}, readFile: () => undefined })).toMatchObject({ url: DEFAULT_URL, token: undefined, urlSource: 'default' })
  })

  it('mixes sources field by field', () => {
    const c = resolveConfig({ flags: { url: 'http://flag:3' }, env: {}, readFile: file({ token: 'from-file' }) })
    expect(c).toMatchObject({ url: 'http://flag:3', token: 'from-file' })
  })

  it('reads the file named by LAZARUS_CLI_CONFIG, else XDG, else ~/.config', () => {
    expect(configPath({ LAZARUS_CLI_CONFIG: '/etc/l.json' }, '/home/op')).toBe('/etc/l.json')
    expect(configPath({ XDG_CONFIG_HOME: '/x' }, '/home/op')).toBe('/x/lazarus/cli.json')
    expect(configPath({}, '/home/op')).toBe('/home/op/.config/lazarus/cli.json')
  })

  it('says what is wrong with a bad config file (exit 2)', () => {
    const bad = (text: string) => () => resolveConfig({ flags: {}, env: { LAZARUS_CLI_CONFIG: '/c.json' }, readFile: () => text })
    expect(bad('{nope')).toThrow(/\/c\.json is not valid JSON/)
    expect(bad('{"uri": "x"}')).toThrow(/\/c\.json is invalid/)
    try {
      bad('[')()
    } catch (err) {
      expect((err as CliError).exitCode).toBe(Exit.usage)
    }
  })

  it('does not read the file when flags and env give everything', () => {
    const c = resolveConfig({ flags: { url: 'http://a:1', token: 't' }, env: {}, readFile: () => '{broken' })
    expect(c.url).toBe('http://a:1')
  })
})

describe('normaliseUrl', () => {
  it('drops trailing slashes and /v1', () => {
    expect(normaliseUrl('http://h:15868/')).toBe('http://h:15868')
    expect(normaliseUrl('http://h:15868/v1/')).toBe('http://h:15868')
  })
  it('rejects what is not an http URL', () => {
    expect(() => normaliseUrl('h:15868')).toThrow(/http/)
    expect(() => normaliseUrl('not a url')).toThrow(/not a URL/)
  })
})
