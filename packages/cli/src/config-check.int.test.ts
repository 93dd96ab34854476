import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { runCli } from './run.js'

const dir = mkdtempSync(join(tmpdir(), 'lazarus-config-check-'))
const write = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

/** `lazarus <argv>` in process: exit code, stdout, stderr. */
const lazarus = async (argv: string[]) => {
  const out: string[] = []
  const err: string[] = []
  const io = { out: (t: string) => out.push(t), write: (t: string) => out.push(t), err: (t: string) => err.push(t), tty: false }
  const code = await runCli({ argv, env: { LAZARUS_CLI_CONFIG: '/nonexistent/cli.json' }, io })
  return { code, out: out.join('\n'), err: err.join('\n') }
}

const EVACUATOR = `[DEFAULT]
host_failure_recovery_threads = 8
wait_period_after_evacuation = 120
os_privileged_user_auth_url = http://keystone:5000/v3
os_privileged_user_name = lazarus
os_privileged_user_password = "s3cret#1"
os_privileged_user_tenant = service

[database]
connection = postgres://lazarus@db/lazarus

[messaging]
amqp_url = amqp://lazarus:pw@rabbit:5672/lazarus

[host_failure]
evacuate_all_instances = false
ignore_instances_in_error_state = true

[taskflow_driver_recovery_flows]
host_failure_recovery_tasks = {"pre":["disable_compute_service_task"],"main":["prepare_HA_enabled_instances_task"],"post":["evacuate_instances_task"]}
`

describe('lazarus config check', () => {
  it('accepts a good file (service from the file name), exit 0', async () => {
    const file = write('evacuator.conf', EVACUATOR)
    const r = await lazarus(['config', 'check', file])
    expect(r).toMatchObject({ code: 0, err: '' })
    expect(r.out).toContain('valid evacuator configuration')
  })

  it('names an unknown option and an unknown section, exit 1', async () => {
    const file = write('evac-typo.conf', `${EVACUATOR}\n[host_failure]\nevacuate_all_instance = true\n[instance_failures]\nprocess_all_instances = true\n`)
    const r = await lazarus(['config', 'check', '--service', 'evacuator', file])
    expect(r.code).toBe(1)
    expect(r.err).toContain('[host_failure] evacuate_all_instance: unknown option')
    expect(r.err).toContain('[instance_failures]: unknown section')
  })

  it('names a bad value by section and option, exit 1', async () => {
    const file = write('api.conf', '[DEFAULT]\nduplicate_notification_detection_interval = three minutes\n[keystone_authtoken]\ntoken_cache_time = -1\n')
    const r = await lazarus(['config', 'check', file])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/\[DEFAULT\] duplicate_notification_detection_interval: .*number/i)
    expect(r.err).toMatch(/\[keystone_authtoken\] token_cache_time: .*>=0/)
  })

  it('reports a required setting the file leaves out, with its environment variable', async () => {
    const file = write('fencer.conf', '[database]\nconnection = memory:\n')
    const r = await lazarus(['config', 'check', file])
    expect(r.code).toBe(1)
    expect(r.err).toContain('[messaging] amqp_url: required (or AMQP_URL in the environment)')
  })

  it('needs --service when the file name does not say, exit 2', async () => {
    const file = write('lazarus.ini', '')
    const r = await lazarus(['config', 'check', file])
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/give --service/)
  })
})

describe('a service started with a config file', () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '../../..')

  it('stops at once naming the same [section] option as config check, and the variable', async () => {
    const file = write('api-bad.conf', '[messaging]\namqp_url = amqp://127.0.0.1:1/\n[DEFAULT]\nosapi_max_limit = 0\n')
    const checked = await lazarus(['config', 'check', file, '--service', 'api'])
    expect(checked.err).toContain('[DEFAULT] osapi_max_limit:')
    // The api's own entry point, from source, as a process: it must refuse before connecting anywhere.
    const started = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--conditions=@lazarus/source', '--import', 'tsx', join(root, 'services/api/src/main.ts'), '--config-file', file],
        { cwd: root, env: { PATH: process.env['PATH'] ?? '' }, timeout: 60_000 },
        (_err, _stdout, stderr) => resolve({ code: child.exitCode, stderr }),
      )
    })
    expect(started.code).toBe(1)
    expect(started.stderr).toMatch(/MAX_LIMIT \(maxLimit\) \[DEFAULT\] osapi_max_limit: /)
  }, 90_000)
})
