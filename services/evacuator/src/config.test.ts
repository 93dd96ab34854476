import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadServiceConfig } from '@lazarus/runtime'
import { describe, expect, it } from 'vitest'
import { evacuatorSettings } from './config.js'

const AMQP = { AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672/%2f' }

describe('EVACUATIONS_IN_FLIGHT_MAX', () => {
  it('is 32 unless set, and read from the environment or [host_failure] evacuations_in_flight_max', () => {
    expect(loadServiceConfig(evacuatorSettings, AMQP, []).evacuationsInFlightMax).toBe(32)
    expect(loadServiceConfig(evacuatorSettings, { ...AMQP, EVACUATIONS_IN_FLIGHT_MAX: '8' }, []).evacuationsInFlightMax).toBe(8)
    const file = join(mkdtempSync(join(tmpdir(), 'evacuator-conf-')), 'evacuator.conf')
    writeFileSync(file, '[host_failure]\nevacuations_in_flight_max = 12\n')
    expect(loadServiceConfig(evacuatorSettings, AMQP, ['--config-file', file]).evacuationsInFlightMax).toBe(12)
  })

  it('refuses a malformed value at start, naming the setting and where it was set', () => {
    for (const bad of ['0', '-4', '2.5', 'lots']) {
      expect(() => loadServiceConfig(evacuatorSettings, { ...AMQP, EVACUATIONS_IN_FLIGHT_MAX: bad }, [])).toThrow(ConfigError)
      expect(() => loadServiceConfig(evacuatorSettings, { ...AMQP, EVACUATIONS_IN_FLIGHT_MAX: bad }, [])).toThrow(/EVACUATIONS_IN_FLIGHT_MAX \(evacuationsInFlightMax\)/)
    }
    const file = join(mkdtempSync(join(tmpdir(), 'evacuator-conf-')), 'evacuator.conf')
    writeFileSync(file, '[host_failure]\nevacuations_in_flight_max = 0\n')
    expect(() => loadServiceConfig(evacuatorSettings, AMQP, ['--config-file', file])).toThrow(
      /EVACUATIONS_IN_FLIGHT_MAX \(evacuationsInFlightMax\) \[host_failure\] evacuations_in_flight_max/,
    )
  })
})

describe('LOCK_INSTANCES', () => {
  it('is true unless set, and read from the environment or [host_failure] lock_instances', () => {
    expect(loadServiceConfig(evacuatorSettings, AMQP, []).lockInstances).toBe(true)
    expect(loadServiceConfig(evacuatorSettings, { ...AMQP, LOCK_INSTANCES: 'false' }, []).lockInstances).toBe(false)
    const file = join(mkdtempSync(join(tmpdir(), 'evacuator-conf-')), 'evacuator.conf')
    writeFileSync(file, '[host_failure]\nlock_instances = False\n')
    expect(loadServiceConfig(evacuatorSettings, AMQP, ['--config-file', file]).lockInstances).toBe(false)
    expect(() => loadServiceConfig(evacuatorSettings, { ...AMQP, LOCK_INSTANCES: 'sometimes' }, [])).toThrow(/LOCK_INSTANCES/)
  })
})
