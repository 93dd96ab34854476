/** Switches a host's power through its BMC or fence device. */
export interface PowerDriver {
  /** Hard power-off (no graceful shutdown). Resolves once the device accepted the request. */
  powerOff(): Promise<void>
  powerOn(): Promise<void>
  status(): Promise<PowerStatus>
}

export type PowerStatus = 'on' | 'off' | 'unknown'

/** The host's power settings are wrong or incomplete: the fence cannot even start. */
export class PowerConfigError extends Error {
  override readonly name = 'PowerConfigError'
}

/** The power device refused, failed or did not answer in time. */
export class PowerDeviceError extends Error {
  override readonly name = 'PowerDeviceError'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}
