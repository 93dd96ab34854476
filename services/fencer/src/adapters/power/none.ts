import type { DeviceSettings } from '../../domain/control-attributes.js'
import { PowerConfigError, PowerDeviceError, type PowerDriver } from './power-driver.js'

/** `driver=none`: the host has no power device; only level 1 (force-down only) can fence it. */
export const createNoneDriver = (settings: DeviceSettings): PowerDriver => {
  for (const key of Object.keys(settings.options)) {
    throw new PowerConfigError(`control attribute "${key}" is not known to the none driver`)
  }
  const refuse = async (): Promise<never> => {
    throw new PowerDeviceError('driver=none cannot switch power')
  }
  return { powerOff: refuse, powerOn: refuse, status: async () => 'unknown' }
}
