import { execFile } from 'node:child_process'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot } from '../support/processes.js'

/*
 * The agent's TCP probe (management, storage, peers) on a lossy network: one lost SYN must
 * not make a reachable target look unreachable. Linux resends a lost SYN only after 1 s,
 * longer than the probe's timeout (500 ms by default), so a probe that waits on a single
 * connection fails whenever one packet is lost; on a link with 20 % loss a third of the
 * probes failed, and a few in a row made a healthy host look isolated (found by
 * test/partition/lossy-links.int.test.ts). The probe runs in a network namespace of its own
 * whose firewall drops every other SYN to the target (iptables' nth match: the first is
 * dropped), so the outcome does not depend on chance.
 */

const exec = promisify(execFile)
const ns = `lzt${process.pid}-probe`
const PORT = 7001

// Runs in the namespace: a listener on loopback, then the built probe against it.
const script = `
import { createServer } from 'node:net'
import { tcpReachable } from ${JSON.stringify(resolve(repoRoot, 'services/agent/dist/probes/tcp.js'))}
const server = createServer((s) => s.destroy()).listen(${PORT}, '127.0.0.1', async () => {
  const results = []
  for (let i = 0; i < 3; i++) results.push(await tcpReachable({ host: '127.0.0.1', port: ${PORT} }, 500))
  console.log(JSON.stringify(results))
  server.close()
})
`

describe('agent TCP probe, one SYN lost', () => {
  beforeAll(async () => {
    await exec('ip', ['netns', 'del', ns]).catch(() => undefined)
    await exec('ip', ['netns', 'add', ns])
    await exec('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
    await exec('ip', [
      'netns',
      'exec',
      ns,
      'iptables',
      '-A',
      'INPUT',
      '-p',
      'tcp',
      '--syn',
      '--dport',
      String(PORT),
      '-m',
      'statistic',
      '--mode',
      'nth',
      '--every',
      '2',
      '--packet',
      '0',
      '-j',
      'DROP',
    ])
  })

  afterAll(async () => {
    await exec('ip', ['netns', 'del', ns]).catch(() => undefined)
  })

  it('still finds a reachable target reachable within its timeout', async () => {
    const { stdout } = await exec('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', script], { timeout: 20_000 })
    const results = JSON.parse(stdout.trim()) as { ok: boolean; error?: string }[]
    expect(results).toEqual([{ ok: true }, { ok: true }, { ok: true }])
    // Half the SYNs were dropped: the fault was there.
    const { stdout: counters } = await exec('ip', ['netns', 'exec', ns, 'iptables', '-L', 'INPUT', '-v', '-n', '-x'])
    expect(Number(/^\s*(\d+)\s+\d+\s+DROP\b/m.exec(counters)?.[1])).toBeGreaterThan(0)
  })
})
