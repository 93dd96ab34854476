import type { PowerSettings } from '../../domain/control-attributes.js'
import { createNoneDriver } from './none.js'
import { PowerConfigError, type PowerDriver } from './power-driver.js'
import { createRedfishDriver } from './redfish.js'
import { defaultSecretSources, type SecretSources } from './secret.js'

export * from './power-driver.js'
export { createRedfishDriver } from './redfish.js'
export { createNoneDriver } from './none.js'

export interface DriverOptions extends SecretSources {
  /** Deadline of each request to a power device. */
  requestTimeoutMs: number
}

type DriverFactory = (settings: PowerSettings, opts: DriverOptions) => PowerDriver

/**
 * Power drivers by the `driver=` attribute. A new driver (`ipmi` over the ipmitool
 * binary, `fence_agent` for ClusterLabs fence_* agents over their stdin key=value
 * protocol) is one factory here; each factory checks the attributes it reads and
 * rejects the ones it does not know.
 */
const DRIVERS: Readonly<Record<string, DriverFactory>> = {
  redfish: createRedfishDriver,
  none: createNoneDriver,
}

export const supportedDrivers = (): string[] => Object.keys(DRIVERS)

export const createPowerDriver = (settings: PowerSettings, opts: Partial<DriverOptions> = {}): PowerDriver => {
  if (settings.driver === undefined) throw new PowerConfigError('control attributes name no power driver (driver=…)')
  const factory = DRIVERS[settings.driver]
  if (!factory) {
    throw new PowerConfigError(`control attribute "driver": ${settings.driver} is not supported (supported: ${supportedDrivers().join(', ')})`)
  }
  return factory(settings, { ...defaultSecretSources, requestTimeoutMs: 10_000, ...opts })
}
