/** A call may be cut short: a device's attempt past its deadline aborts what it runs. */
export interface PowerCallOptions {
  signal?: AbortSignal
}

/** Switches a host's power through its BMC or fence device. */
export interface PowerDriver {
  /** Hard power-off (no graceful shutdown). Resolves once the device accepted the request. */
  powerOff(opts?: PowerCallOptions): Promise<void>
  powerOn(opts?: PowerCallOptions): Promise<void>
  status(opts?: PowerCallOptions): Promise<PowerStatus>
}

export type PowerStatus = 'on' | 'off' | 'unknown'

/** The host's power settings are wrong or incomplete: the fence cannot even start. */
export class PowerConfigError extends Error {
  override readonly name = 'PowerConfigError'
}

/** The power device refused, failed or did not answer in time. */
export class PowerDeviceError extends Error {
  override readonly name = 'PowerDeviceError'
  /** The device did not answer in time (as opposed to answering no). */
  readonly timedOut: boolean
  constructor(message: string, options?: { cause?: unknown; timedOut?: boolean }) {
    super(message, options)
    this.timedOut = options?.timedOut ?? false
  }
}
