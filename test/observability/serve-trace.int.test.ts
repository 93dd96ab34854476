import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadBox } from '../real-nova/box.js'
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js'
import { eventually, startNode, type RunningProcess } from '../support/processes.js'

/**
 * `lazarus serve` (the built CLI, as its own process, on the openstack-box's Keystone and
 * Nova) exports traces when OTEL_EXPORTER_OTLP_ENDPOINT says so, as the standalone services
 * do: a caller's `traceparent` is continued by the in-process api's request span, which
 * reaches a real OTLP/HTTP receiver under the service name `lazarus-serve`, flushed at SIGTERM.
 */

const loaded = loadBox()

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })

if (!loaded.box) {
  describe('lazarus serve tracing', () => {
    it.skip(`skipped: ${loaded.reason}`, () => {})
  })
} else {
  const box = loaded.box
  describe('lazarus serve tracing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lzr-serve-trace-'))
    let receiver: OtlpReceiver | undefined
    let serve: RunningProcess | undefined

    afterAll(async () => {
      await serve?.stop('SIGKILL')
      await receiver?.close()
      rmSync(dir, { recursive: true, force: true })
    })

    it('exports the api request span, in the caller trace, to the OTLP endpoint; flushed at SIGTERM', async () => {
      receiver = await startOtlpReceiver()
      const port = await freePort()
      const c = box.client
      const conf = join(dir, 'serve.conf')
      writeFileSync(
        conf,
        [
          '[DEFAULT]',
          `os_privileged_user_auth_url = ${c.authUrl}`,
          `os_privileged_user_name = ${c.username}`,
          `os_privileged_user_password = ${c.password}`,
          `os_privileged_user_tenant = ${c.projectName}`,
          `masakari_api_listen_port = ${port}`,
          'auth = none',
          'compute_host_check = off',
          'log_level = info',
          '',
          '[database]',
          `connection = ${join(dir, 'db')}`,
          '',
        ].join('\n'),
        { mode: 0o600 },
      )
      // Only the file and the OTLP endpoint: nothing else of this shell's environment.
      serve = startNode('serve', 'packages/cli/dist/main.js', { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }, { bareEnv: true, args: ['serve', '--config', conf] })
      await serve.waitForLine(/lazarus serve started/, 120_000)
      const traceId = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'
      const res = await fetch(`http://127.0.0.1:${port}/v1/segments`, { headers: { traceparent: `00-${traceId}-1122334455667788-01` } })
      expect(res.status).toBe(200)
      expect(await serve.stop('SIGTERM')).toBe(0)
      const span = await eventually('the request span at the receiver', () => receiver!.spans.find((s) => s.traceId === traceId && s.name.includes('/v1/segments')))
      expect(span).toMatchObject({ service: 'lazarus-serve', parentSpanId: '1122334455667788', kind: 2 })
      expect(receiver.rejected).toEqual([])
      expect(JSON.stringify(receiver.spans)).not.toContain(c.password!)
    }, 180_000)
  })
}
