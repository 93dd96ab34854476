import type { ChannelModel } from 'amqplib'

interface MuxInternals {
  out?: { cork?: () => void; uncork?: () => void }
  _readIncoming?: () => void
}

/**
 * Make one connection send what its channels queued in the same turn of the event loop as
 * one socket write instead of one write per frame.
 *
 * amqplib's multiplexer drains each channel's queue with a `write()` per message; on a
 * loaded host every write that wakes the broker costs a context switch, and a burst of
 * publishes (an outbox batch) paid one per event. Corking the socket around each drain
 * coalesces them into a single `writev`. The hook uses amqplib 2.x internals
 * (`connection.muxer`); if they are not there it changes nothing and returns false.
 */
export const coalesceWrites = (model: ChannelModel): boolean => {
  const mux = (model as unknown as { connection?: { muxer?: MuxInternals } }).connection?.muxer
  const out = mux?.out
  const drain = mux?._readIncoming
  if (!mux || !out || typeof drain !== 'function' || typeof out.cork !== 'function' || typeof out.uncork !== 'function') return false
  mux._readIncoming = function (this: MuxInternals) {
    out.cork?.()
    try {
      drain.call(this)
    } finally {
      out.uncork?.()
    }
  }
  return true
}
