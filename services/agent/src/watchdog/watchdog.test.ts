import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { loadAgentConfig } from '../config.js'
import { openWatchdogDevice, WatchdogDeviceError } from './device.js'
import { checkFeedInterval, startWatchdog, type Reach } from './watchdog.js'

const log = pino({ level: 'silent' })
let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lazarus-watchdog-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})
afterEach(() => {
  vi.useRealTimers()
})

/** A regular file standing for the device: what the agent writes can be read back. */
const deviceFile = async (name: string) => {
  const path = join(dir, name)
  await writeFile(path, '')
  return path
}

describe('the watchdog device adapter', () => {
  it('writes one keepalive byte per feed and the magic V on a planned stop', async () => {
    const path = await deviceFile('plain')
    const device = openWatchdogDevice(path)
    expect(device.timeoutSeconds).toBeUndefined()
    device.feed()
    device.feed()
    device.disarm()
    expect(await readFile(path)).toEqual(Buffer.from([0, 0, 'V'.charCodeAt(0)]))
    expect(() => device.feed()).toThrow(/closed/)
    device.disarm()
    expect((await readFile(path)).length).toBe(3)
  })

  it('closes without V when abandoned', async () => {
    const path = await deviceFile('abandoned')
    const device = openWatchdogDevice(path)
    device.feed()
    device.abandon()
    expect(await readFile(path)).toEqual(Buffer.from([0]))
  })

  it('refuses a device that cannot be opened, naming it and why', async () => {
    const missing = join(dir, 'no-such-watchdog')
    expect(() => openWatchdogDevice(missing)).toThrow(WatchdogDeviceError)
    expect(() => openWatchdogDevice(missing)).toThrow(new RegExp(`WATCHDOG_DEVICE=${missing}: .*ENOENT.*softdog`))
    // A FIFO nobody reads: refused at once rather than hanging the start.
    const fifo = join(dir, 'fifo')
    execFileSync('mkfifo', [fifo])
    expect(() => openWatchdogDevice(fifo)).toThrow(/ENXIO/)
  })

  it("refuses a feed interval over half the device's timeout, where the device tells it", () => {
    const config = { device: '/dev/watchdog', isolationTimeoutMs: 30_000, feedIntervalMs: 10_000 }
    expect(() => checkFeedInterval(config, { path: '/dev/watchdog', timeoutSeconds: 15 })).toThrow(/more than half the timeout of \/dev\/watchdog \(15 s\)/)
    expect(() => checkFeedInterval(config, { path: '/dev/watchdog', timeoutSeconds: 20 })).not.toThrow()
    expect(() => checkFeedInterval(config, { path: '/dev/watchdog', timeoutSeconds: undefined })).not.toThrow()
  })
})

describe('the watchdog loop', () => {
  const run = async (name: string, peersConfigured: boolean) => {
    vi.useFakeTimers()
    const path = await deviceFile(name)
    let clock = 0
    const reach: Reach = { controlPlaneOkAt: undefined, peerOkAt: undefined }
    const watchdog = startWatchdog({
      device: openWatchdogDevice(path),
      config: { device: path, isolationTimeoutMs: 1000, feedIntervalMs: 100 },
      peersConfigured,
      reach: () => reach,
      log,
      monotonic: () => clock,
    })
    const advance = (ms: number) => {
      for (let i = 0; i < ms / 100; i++) {
        clock += 100
        vi.advanceTimersByTime(100)
      }
    }
    const written = async () => readFile(path)
    return { watchdog, reach, advance, written, now: () => clock }
  }

  it('feeds while the control plane answers, then while a peer does, then starves for good', async () => {
    const w = await run('loop', true)
    expect(w.watchdog.fed).toBe(true)
    w.reach.controlPlaneOkAt = 0
    w.advance(500)
    expect((await w.written()).length).toBe(6)
    // The control plane goes; a peer keeps answering.
    for (let i = 0; i < 4; i++) {
      w.reach.peerOkAt = w.now()
      w.advance(500)
    }
    expect(w.watchdog.decision.reason).toBe('peers-reachable')
    expect((await w.written()).length).toBe(26)
    // The peer goes too: starving once past the timeout.
    w.advance(1100)
    expect(w.watchdog.fed).toBe(false)
    expect(w.watchdog.starvedBecause).toBe('isolated')
    const starvedAt = (await w.written()).length
    // Everything back: still starving.
    w.reach.controlPlaneOkAt = w.now()
    w.reach.peerOkAt = w.now()
    w.advance(1000)
    expect((await w.written()).length).toBe(starvedAt)
    expect(w.watchdog.decision.reason).toBe('already-starving')
    // A stop while starving leaves it armed: no V.
    w.watchdog.stop()
    expect((await w.written()).includes('V'.charCodeAt(0))).toBe(false)
  })

  it('without peers, starves on the control plane alone; a stop while fed writes V', async () => {
    const a = await run('peerless', false)
    a.advance(1200)
    expect(a.watchdog.starvedBecause).toBe('control-plane-lost')
    a.watchdog.stop()
    const b = await run('peerless-stop', false)
    b.advance(300)
    b.watchdog.stop()
    expect((await b.written()).at(-1)).toBe('V'.charCodeAt(0))
    expect(b.watchdog.lastFedAt).toBeTypeOf('number')
  })
})

describe('watchdog settings', () => {
  const base = { HOST_NAME: 'compute-01' }
  it('are off unless WATCHDOG_DEVICE is set, with defaults', () => {
    expect(loadAgentConfig(base).watchdog).toBeUndefined()
    expect(loadAgentConfig({ ...base, WATCHDOG_DEVICE: '/dev/watchdog' }).watchdog).toEqual({ device: '/dev/watchdog', isolationTimeoutMs: 30_000, feedIntervalMs: 1000 })
  })

  it('refuse hostile values, naming the setting', () => {
    const bad: [Record<string, string>, RegExp][] = [
      [{ WATCHDOG_DEVICE: 'watchdog' }, /WATCHDOG_DEVICE/],
      [{ WATCHDOG_DEVICE: '/dev/watchdog\0x' }, /WATCHDOG_DEVICE/],
      [{ WATCHDOG_DEVICE: '/dev/watchdog', WATCHDOG_ISOLATION_TIMEOUT_MS: '999' }, /WATCHDOG_ISOLATION_TIMEOUT_MS/],
      [{ WATCHDOG_DEVICE: '/dev/watchdog', WATCHDOG_ISOLATION_TIMEOUT_MS: 'soon' }, /WATCHDOG_ISOLATION_TIMEOUT_MS/],
      [{ WATCHDOG_DEVICE: '/dev/watchdog', WATCHDOG_ISOLATION_TIMEOUT_MS: '1e12' }, /WATCHDOG_ISOLATION_TIMEOUT_MS/],
      [{ WATCHDOG_DEVICE: '/dev/watchdog', WATCHDOG_FEED_INTERVAL_MS: '0' }, /WATCHDOG_FEED_INTERVAL_MS/],
      [{ WATCHDOG_DEVICE: '/dev/watchdog', WATCHDOG_FEED_INTERVAL_MS: '-5' }, /WATCHDOG_FEED_INTERVAL_MS/],
      // Fewer than 3 heartbeats in the isolation timeout.
      [{ WATCHDOG_DEVICE: '/dev/watchdog', HEARTBEAT_INTERVAL_MS: '5000', WATCHDOG_ISOLATION_TIMEOUT_MS: '10000' }, /WATCHDOG_ISOLATION_TIMEOUT_MS.*3 heartbeat intervals/],
      [{ WATCHDOG_DEVICE: '/dev/watchdog', WATCHDOG_ISOLATION_TIMEOUT_MS: '10000', WATCHDOG_FEED_INTERVAL_MS: '6000' }, /WATCHDOG_FEED_INTERVAL_MS.*half/],
    ]
    for (const [env, message] of bad) expect(() => loadAgentConfig({ ...base, ...env }), JSON.stringify(env)).toThrow(message)
  })
})
