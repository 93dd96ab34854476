import type { DeviceSettings } from '../../domain/control-attributes.js'
import { createFenceAgentDriver } from '../fence-agent/index.js'
import { createIpmiDriver } from '../ipmi/index.js'
import { createNoneDriver } from './none.js'
import { PowerConfigError, type PowerDriver } from './power-driver.js'
import { createRedfishDriver } from './redfish.js'
import { defaultSecretSources, type SecretSources } from './secret.js'

export * from './power-driver.js'
export { createRedfishDriver } from './redfish.js'
export { createNoneDriver } from './none.js'
export { createIpmiDriver } from '../ipmi/index.js'
export { createFenceAgentDriver } from '../fence-agent/index.js'

export interface DriverOptions extends SecretSources {
  /** Deadline of each request to a power device (ipmitool run, fence agent run). */
  requestTimeoutMs: number
  /** `driver=ipmi`: the ipmitool binary (default /usr/bin/ipmitool). */
  ipmitoolPath?: string
  /** `driver=fence_agent`: where fence_* agents may be found (default /usr/sbin, /usr/bin). */
  agentDirs?: readonly string[]
}

type DriverFactory = (settings: DeviceSettings, opts: DriverOptions) => PowerDriver

/**
 * Power drivers by the `driver=` attribute: `redfish` (HTTP), `ipmi` (the ipmitool binary),
 * `fence_agent` (any ClusterLabs fence_* agent over its stdin key=value protocol) and `none`
 * (level 1 only). Each factory checks the attributes it reads and rejects the ones it does
 * not know.
 */
const DRIVERS: Readonly<Record<string, DriverFactory>> = {
  redfish: createRedfishDriver,
  ipmi: createIpmiDriver,
  fence_agent: createFenceAgentDriver,
  none: createNoneDriver,
}

export const supportedDrivers = (): string[] => Object.keys(DRIVERS)

export const createPowerDriver = (settings: DeviceSettings, opts: Partial<DriverOptions> = {}): PowerDriver => {
  if (settings.driver === undefined) throw new PowerConfigError('control attributes name no power driver (driver=…)')
  const factory = DRIVERS[settings.driver]
  if (!factory) {
    throw new PowerConfigError(`control attribute "driver": ${settings.driver} is not supported (supported: ${supportedDrivers().join(', ')})`)
  }
  return factory(settings, { ...defaultSecretSources, requestTimeoutMs: 10_000, ...opts })
}
