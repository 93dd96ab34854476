/** No queue is bound to the routing key: the message would be dropped, so the publish fails. */
export class UnroutableError extends Error {
  override readonly name = 'UnroutableError'
  constructor(readonly routingKey: string) {
    super(`no queue is bound to routing key ${routingKey}; message not published`)
  }
}

/** The broker did not confirm a publish in time. It may or may not have been delivered. */
export class PublishTimeoutError extends Error {
  override readonly name = 'PublishTimeoutError'
  constructor(
    readonly routingKey: string,
    readonly timeoutMs: number,
  ) {
    super(`publish of ${routingKey} not confirmed within ${timeoutMs} ms`)
  }
}

/** The broker refused a publish (a nack), or the channel closed before it confirmed. */
export class PublishFailedError extends Error {
  override readonly name = 'PublishFailedError'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** The bus was closed (or is closing) and takes no more of this kind of work. */
export class BusClosedError extends Error {
  override readonly name = 'BusClosedError'
  constructor(what: string) {
    super(`bus is closed: cannot ${what}`)
  }
}
