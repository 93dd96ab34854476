import { connect, type Socket } from 'node:net'
import type { HeartbeatCheck } from '@lazarus/contracts'
import type { Probe, ProbeGroup } from './runner.js'

export interface TcpTarget {
  host: string
  port: number
}

/** Parse `host:port` or `[v6addr]:port`. */
export const parseTarget = (s: string): TcpTarget | undefined => {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:\s]+):(\d+)$/.exec(s)
  if (!m) return undefined
  const port = Number(m[2])
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined
  return { host: m[1]!, port }
}

/**
 * Can this host reach `target` over TCP within `timeoutMs`? A refused connection (RST)
 * proves the network path works, so it counts as reachable unless `refusedIsReachable`
 * is false.
 *
 * While nothing answers, a fresh connection is started every `attemptEveryMs` (default: a
 * third of the timeout, at least 100 ms) and the first answer wins: Linux resends a lost
 * SYN only after 1 s, past the probe's timeout, so a probe waiting on a single connection
 * would call a target unreachable whenever one packet was lost. An error answer (no route,
 * a name that does not resolve, a refusal that does not count) ends the probe at once.
 */
export const tcpReachable = (
  target: TcpTarget,
  timeoutMs: number,
  refusedIsReachable = true,
  attemptEveryMs = Math.max(100, Math.floor(timeoutMs / 3)),
): Promise<{ ok: boolean; error?: string }> =>
  new Promise((resolve) => {
    let settled = false
    const sockets: Socket[] = []
    const finish = (r: { ok: boolean; error?: string }) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      clearInterval(again)
      for (const s of sockets) s.destroy()
      resolve(r)
    }
    const attempt = () => {
      const socket = connect({ host: target.host, port: target.port })
      sockets.push(socket)
      socket.once('connect', () => finish({ ok: true }))
      socket.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ECONNREFUSED' && refusedIsReachable) finish({ ok: true })
        else finish({ ok: false, error: err.code ?? err.message })
      })
    }
    const timer = setTimeout(() => finish({ ok: false, error: 'timeout' }), timeoutMs)
    const again = setInterval(attempt, attemptEveryMs)
    attempt()
  })

/** A probe of one TCP target; `name` is what the heartbeat calls it (a peer's host name, or the address). */
export const tcpProbe = (group: ProbeGroup, name: string, target: TcpTarget, timeoutMs: number, refusedIsReachable = true): Probe => ({
  group,
  names: [name],
  async run(): Promise<HeartbeatCheck[]> {
    const started = performance.now()
    const r = await tcpReachable(target, timeoutMs, refusedIsReachable)
    const ms = Math.round(performance.now() - started)
    return [r.error === undefined ? { name, ok: r.ok, ms } : { name, ok: r.ok, ms, error: r.error }]
  },
})
