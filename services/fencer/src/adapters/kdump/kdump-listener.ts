import { createSocket } from 'node:dgram'
import { isIP } from 'node:net'
import { isKdumpMessage } from '../../domain/kdump.js'

/** What the fence steps read of the listener: when a host's address last announced a kernel dump. */
export interface KdumpMessages {
  lastMessageFrom(address: string): number | undefined
}

export interface KdumpListener extends KdumpMessages {
  readonly port: number
  close(): Promise<void>
}

/** Addresses remembered at most: a flood of forged sources cannot grow the map without bound. */
const MAX_SOURCES = 10_000

/**
 * Listen for fence_kdump messages (fence-agents' `fence_kdump_send`, UDP, port 7410 by
 * default): 8 bytes, magic 0x1B302A40 then version 1. Anything else is dropped. Remembers when
 * each source address last sent one; the fence steps ask by the host's `kdump_address`.
 */
export const startKdumpListener = (opts: { port: number; address: string; now?: () => number }): Promise<KdumpListener> =>
  new Promise((resolve, reject) => {
    const now = opts.now ?? Date.now
    const socket = createSocket({ type: isIP(opts.address) === 6 ? 'udp6' : 'udp4', reuseAddr: false })
    const last = new Map<string, number>()
    socket.on('message', (msg, rinfo) => {
      if (!isKdumpMessage(msg)) return
      const from = normalize(rinfo.address)
      last.delete(from)
      last.set(from, now())
      if (last.size > MAX_SOURCES) last.delete(last.keys().next().value as string)
    })
    socket.once('error', reject)
    socket.bind(opts.port, opts.address, () => {
      socket.off('error', reject)
      socket.on('error', () => {
        // a datagram error is not fatal: the listener keeps listening
      })
      resolve({
        port: socket.address().port,
        lastMessageFrom: (address) => last.get(normalize(address)),
        close: () => new Promise<void>((done) => socket.close(() => done())),
      })
    })
  })

/** An IPv4 address seen through an IPv6 socket (`::ffff:10.0.0.7`) is the IPv4 address. */
const normalize = (address: string): string => address.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1')
