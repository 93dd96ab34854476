import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { passwordHash } from '../../infra/rabbitmq/users.js'
import { repoRoot } from '../support/processes.js'

const run = promisify(execFile)
const usersTs = (args: string[]) => run(process.execPath, ['--conditions=@lazarus/source', '--import', 'tsx', 'infra/rabbitmq/users.ts', ...args], { cwd: repoRoot })

/** infra/rabbitmq/users.ts as an operator runs it (RabbitMQ accepting its output: rabbitmq-permissions.int.test.ts). */
describe('infra/rabbitmq/users.ts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lazarus-users-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const out = join(dir, 'out')

  it("hashes as RabbitMQ's rabbit_password_hashing_sha256 does", () => {
    // The hash the local cluster's definitions carried for `lazarus`, which RabbitMQ accepted.
    expect(passwordHash('lazarus', Buffer.from('6c617a61', 'hex'))).toBe('bGF6YcyU7051izu/yK6rxWc9/I+V7pmav98fJXtOKz4bz4Ov')
    expect(Buffer.from(passwordHash('x'), 'base64')).toHaveLength(4 + 32)
  })

  it('writes a user per service with a random password, every file 0600 in a 0700 directory, and prints no password', async () => {
    const r = await usersTs(['--out', out, '--vhost', 'lz', '--broker', 'amqps://rabbit-1:5671,amqps://rabbit-2:5671', '--merge', 'infra/rabbitmq/definitions.json'])
    expect(statSync(out).mode & 0o777).toBe(0o700)
    const files = readdirSync(out).sort()
    expect(files).toEqual([
      'api.env',
      'api.password',
      'definitions.json',
      'detector.env',
      'detector.password',
      'evacuator.env',
      'evacuator.password',
      'fencer.env',
      'fencer.password',
      'users.json',
    ])
    for (const f of files) expect(statSync(join(out, f)).mode & 0o777, f).toBe(0o600)
    const passwords = ['api', 'detector', 'fencer', 'evacuator'].map((s) => readFileSync(join(out, `${s}.password`), 'utf8').trim())
    expect(new Set(passwords).size).toBe(4)
    for (const p of passwords) {
      expect(p).toMatch(/^[A-Za-z0-9_-]{32}$/)
      expect(r.stdout).not.toContain(p)
    }
    expect(readFileSync(join(out, 'fencer.env'), 'utf8')).toBe(
      `AMQP_URL=amqps://lazarus-fencer:${passwords[2]}@rabbit-1:5671/lz,amqps://lazarus-fencer:${passwords[2]}@rabbit-2:5671/lz\n`,
    )
    const users = JSON.parse(readFileSync(join(out, 'users.json'), 'utf8')) as {
      users: { name: string; password_hash: string }[]
      topic_permissions: { user: string; exchange: string }[]
    }
    expect(users.users.map((u) => u.name)).toEqual(['lazarus-api', 'lazarus-detector', 'lazarus-fencer', 'lazarus-evacuator'])
    expect(JSON.stringify(users)).not.toContain(passwords[0])
    expect(users.topic_permissions.filter((t) => t.exchange === 'lazarus.events')).toHaveLength(4)
    const merged = JSON.parse(readFileSync(join(out, 'definitions.json'), 'utf8')) as { vhosts: unknown[]; queues: unknown[]; users: unknown[] }
    expect(merged.users).toHaveLength(4)
    expect(merged.queues.length).toBeGreaterThan(0)
  })

  it('refuses to overwrite the passwords without --force, and makes new ones with it', async () => {
    const before = readFileSync(join(out, 'api.password'), 'utf8')
    await expect(usersTs(['--out', out])).rejects.toMatchObject({ stderr: expect.stringMatching(/exists: --force/) })
    expect(readFileSync(join(out, 'api.password'), 'utf8')).toBe(before)
    await usersTs(['--out', out, '--force'])
    expect(readFileSync(join(out, 'api.password'), 'utf8')).not.toBe(before)
    await expect(usersTs(['--out', join(dir, 'x'), '--broker', 'amqp://u:p@h:5672/vhost'])).rejects.toMatchObject({ stderr: expect.stringMatching(/no user, no vhost/) })
  })
})
