import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import * as z from 'zod'
import { ConfigError, configFileOf, loadServiceConfig, setting } from './config.js'
import { commonLayout, filePlace, mergeLayouts, readIniSettings, type ServiceSettings } from './config-file.js'
import { settingsReference } from './config-reference.js'

const schema = z.object({
  amqpUrl: z.string().min(1).describe('RabbitMQ'),
  databaseUrl: z.string().optional(),
  evacuateAllInstances: setting.bool(true),
  duplicateNotificationDetectionInterval: setting.int(180),
  natsUrl: z.string().optional(),
  kafkaSslCaFile: z.string().optional(),
  password: z.string().optional(),
})
const settings: ServiceSettings<typeof schema> = {
  service: 'test',
  schema,
  layout: mergeLayouts(commonLayout, { sections: { host_failure: { evacuateAllInstances: 'evacuate_all_instances' } }, prefixes: { kafka: 'kafka' } }),
}

const dir = mkdtempSync(join(tmpdir(), 'lazarus-config-'))
const write = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

const GOOD = `# a comment
[DEFAULT]
duplicate_notification_detection_interval = 60

[messaging]
amqp_url = amqp://guest:guest@127.0.0.1:5672/%2f

[database]
connection = postgres://127.0.0.1/test

[host_failure]
evacuate_all_instances = false

[nats]
url = nats://127.0.0.1:4222

[kafka]
ssl_ca_file = /etc/ssl/ca.pem
`

describe('config files (INI)', () => {
  it('places settings: by name, by prefix, else [DEFAULT] in snake_case', () => {
    expect(filePlace(settings.layout, 'evacuateAllInstances')).toEqual({ section: 'host_failure', option: 'evacuate_all_instances' })
    expect(filePlace(settings.layout, 'databaseUrl')).toEqual({ section: 'database', option: 'connection' })
    expect(filePlace(settings.layout, 'kafkaSslCaFile')).toEqual({ section: 'kafka', option: 'ssl_ca_file' })
    expect(filePlace(settings.layout, 'natsUrl')).toEqual({ section: 'nats', option: 'url' })
    expect(filePlace(settings.layout, 'duplicateNotificationDetectionInterval')).toEqual({ section: 'DEFAULT', option: 'duplicate_notification_detection_interval' })
  })

  it('reads a file named by --config-file, with the environment over it', () => {
    const file = write('good.conf', GOOD)
    const c = loadServiceConfig(settings, { DUPLICATE_NOTIFICATION_DETECTION_INTERVAL: '90' }, ['--config-file', file])
    expect(c).toEqual({
      amqpUrl: 'amqp://guest:guest@127.0.0.1:5672/%2f',
      databaseUrl: 'postgres://127.0.0.1/test',
      evacuateAllInstances: false,
      duplicateNotificationDetectionInterval: 90,
      natsUrl: 'nats://127.0.0.1:4222',
      kafkaSslCaFile: '/etc/ssl/ca.pem',
    })
    expect(loadServiceConfig(settings, { LAZARUS_CONFIG_FILE: file }, []).duplicateNotificationDetectionInterval).toBe(60)
    expect(loadServiceConfig(settings, {}, [`--config-file=${file}`]).evacuateAllInstances).toBe(false)
  })

  it("reads a boolean as oslo.config does, in any case (masakari.conf's True and False), and refuses any other word", () => {
    const amqp = 'amqp_url = amqp://guest:guest@127.0.0.1:5672/%2f'
    const read = (value: string) =>
      loadServiceConfig(settings, {}, ['--config-file', write('bool.conf', `[messaging]\n${amqp}\n[host_failure]\nevacuate_all_instances = ${value}\n`)]).evacuateAllInstances
    for (const word of ['False', 'FALSE', 'false', 'Off', 'no', 'N', '0']) expect(read(word), word).toBe(false)
    for (const word of ['True', 'TRUE', 'true', 'On', 'yes', 'Y', '1']) expect(read(word), word).toBe(true)
    expect(loadServiceConfig(settings, { AMQP_URL: 'amqp://x', EVACUATE_ALL_INSTANCES: 'False' }, []).evacuateAllInstances).toBe(false)
    for (const word of ['maybe', 'Truee', '2']) expect(() => read(word), word).toThrow(/\[host_failure\] evacuate_all_instances/)
  })

  it('takes --config-file over LAZARUS_CONFIG_FILE', () => {
    expect(configFileOf({ LAZARUS_CONFIG_FILE: '/b.conf' }, ['--config-file', '/a.conf'])).toBe('/a.conf')
    expect(configFileOf({ LAZARUS_CONFIG_FILE: '/b.conf' }, [])).toBe('/b.conf')
    expect(configFileOf({}, [])).toBeUndefined()
    expect(() => configFileOf({}, ['--config-file'])).toThrow(ConfigError)
  })

  it('refuses an unknown option or section, naming it', () => {
    const file = write('unknown.conf', `${GOOD}\n[host_failure]\nevacuate_all_instance = true\n[hostfailure]\nx = 1\n`)
    expect(() => loadServiceConfig(settings, {}, ['--config-file', file])).toThrow(/\[host_failure\] evacuate_all_instance: unknown option[\s\S]*\[hostfailure\]: unknown section/)
  })

  it('names a bad value by section, option and environment variable', () => {
    const file = write('bad.conf', GOOD.replace('= 60', '= soon'))
    expect(() => loadServiceConfig(settings, {}, ['--config-file', file])).toThrow(
      /DUPLICATE_NOTIFICATION_DETECTION_INTERVAL \(duplicateNotificationDetectionInterval\) \[DEFAULT\] duplicate_notification_detection_interval: /,
    )
  })

  it('keeps values as text: options before a section are [DEFAULT], quotes protect ; and #, empty is unset', () => {
    const read = readIniSettings('password = "pa#ss;w"\n[database]\nconnection =\n', settings)
    expect(read).toEqual({ values: { password: 'pa#ss;w' }, problems: [] })
  })

  it('describes each setting for the reference', () => {
    const ref = settingsReference(settings)
    expect(ref.find((r) => r.key === 'amqpUrl')).toEqual({
      key: 'amqpUrl',
      section: 'messaging',
      option: 'amqp_url',
      env: 'AMQP_URL',
      default: undefined,
      required: true,
      description: 'RabbitMQ',
    })
    expect(ref.find((r) => r.key === 'evacuateAllInstances')).toMatchObject({ default: 'true', required: false })
  })
})
