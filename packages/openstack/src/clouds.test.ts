import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadCloud } from './clouds.js'

const dir = mkdtempSync(join(tmpdir(), 'lazarus-clouds-'))
const file = (name: string, text: string): string => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}
// Nothing of the machine's own clouds.yaml or secure.yaml is read.
const only = (configFile: string) => ({ configFile, secureFile: join(dir, 'no-secure.yaml'), cwd: dir, home: dir })

describe('clouds.yaml as hostile input: refused with the file named, no secret repeated', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('a file that is not YAML', () => {
    const f = file('broken.yaml', 'clouds:\n  box: [unclosed\n')
    expect(() => loadCloud('box', only(f))).toThrow(new RegExp(`${f}: cannot read it as YAML`))
  })

  it('YAML that is not a clouds file', () => {
    const f = file('list.yaml', 'clouds:\n  - box\n')
    expect(() => loadCloud('box', only(f))).toThrow(/not a clouds file/)
  })

  it('a cloud with an unknown auth_type or a wrongly typed field names the field and never the secret', () => {
    const f = file('bad-type.yaml', 'clouds:\n  box:\n    auth_type: token-of-my-own\n    auth:\n      auth_url: http://k/v3\n      password: s3cret-value\n')
    expect(() => loadCloud('box', only(f))).toThrow(/cloud 'box': auth_type/)
    const g = file('bad-field.yaml', 'clouds:\n  box:\n    auth:\n      auth_url: [http://k/v3]\n      password: s3cret-value\n')
    let message = ''
    try {
      loadCloud('box', only(g))
    } catch (err) {
      message = (err as Error).message
    }
    expect(message).toMatch(/cloud 'box': auth\.auth_url/)
    expect(message).not.toContain('s3cret-value')
  })

  it('a cloud that is not in the file, or is not a mapping', () => {
    const f = file('other.yaml', 'clouds:\n  other:\n    auth: {}\n')
    expect(() => loadCloud('box', only(f))).toThrow(/has no cloud 'box' \(it has: other\)/)
    const g = file('flat.yaml', 'clouds:\n  box: just-a-string\n')
    expect(() => loadCloud('box', only(g))).toThrow(/not a clouds file/)
  })
})
