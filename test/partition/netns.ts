import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

/*
 * The test network, all of it inside namespaces the test creates (nothing in the root
 * namespace, nothing leaves the machine):
 *
 *   <p>-ctl (NATS, the detector) ─ <p>c ─┐
 *   <p>-h1 … (agents) ─── <p>h1 … ───── br-a ─ <p>ab0 ═ <p>ab1 ─ br-b ─── <p>h3 … ─── <p>-h3 … (agents)
 *
 * br-a and br-b are bridges in the switch namespace <p>-sw, joined by one veth pair (ab):
 * cutting it splits the hosts on br-b from the control plane while they still reach each
 * other. Each namespace's end of its link is `eth0`, 10.88.0.0/24 (ctl .1, host i .(10+i)).
 * The prefix holds the test process's pid, so that a later run can tell (and remove) the
 * leftovers of a run that died.
 */

const exec = promisify(execFile)
const ip = async (...args: string[]) => (await exec('ip', args)).stdout

export type Bridge = 'a' | 'b'
export type Link = 'ab' | 'ctl' | { host: string }

export interface Topology {
  prefix: string
  ctlNs: string
  /** The control namespace's address, where NATS listens. */
  ctlAddr: string
  hostNs(host: string): string
  hostAddr(host: string): string
  /** Take a link down at both ends (the switch's and the namespace's). */
  cut(link: Link): Promise<void>
  heal(link: Link): Promise<void>
  /** Loss (and jitter) on every host's link, both ways: netem where the kernel has it, else loss alone with iptables. */
  degradeHostLinks(how: { netem: string; lossPercent: number }): Promise<'netem' | 'iptables'>
  /** Packets the degradation dropped so far, all host links summed (proof that the fault is there). */
  droppedPackets(): Promise<number>
  clearHostLinks(): Promise<void>
  destroy(): Promise<void>
}

const PREFIX_RE = /^lzp(\d+)-/

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

const namespaces = async (): Promise<string[]> =>
  (await ip('netns', 'list'))
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean)

/** Kill what still runs in a namespace (the processes a test started there), then delete it with its links. */
const removeNamespace = async (ns: string) => {
  const pids = (await ip('netns', 'pids', ns).catch(() => ''))
    .split('\n')
    .map(Number)
    .filter((p) => p > 0)
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  await ip('netns', 'del', ns).catch(() => undefined)
}

/** Remove the namespaces of earlier runs whose test process is gone (a crashed run). */
export const removeLeftovers = async (): Promise<string[]> => {
  const stale = (await namespaces()).filter((ns) => {
    const m = PREFIX_RE.exec(ns)
    return m !== null && Number(m[1]) !== process.pid && !alive(Number(m[1]))
  })
  for (const ns of stale) await removeNamespace(ns)
  return stale
}

/** Whether the kernel has netem (sch_netem): tried on a throwaway bridge in the switch namespace. */
const hasNetem = async (swNs: string): Promise<boolean> => {
  await ip('-n', swNs, 'link', 'add', 'probe-netem', 'type', 'bridge')
  try {
    await exec('tc', ['-n', swNs, 'qdisc', 'add', 'dev', 'probe-netem', 'root', 'netem', 'delay', '1ms'])
    return true
  } catch {
    return false
  } finally {
    await ip('-n', swNs, 'link', 'del', 'probe-netem').catch(() => undefined)
  }
}

export const createTopology = async (hosts: { name: string; bridge: Bridge }[]): Promise<Topology> => {
  const p = `lzp${process.pid}`
  const swNs = `${p}-sw`
  const ctlNs = `${p}-ctl`
  const created: string[] = []
  const index = new Map(hosts.map((h, i) => [h.name, i + 1]))
  const idx = (host: string) => {
    const i = index.get(host)
    if (i === undefined) throw new Error(`host ${host} is not in the topology`)
    return i
  }
  const hostNs = (host: string) => `${p}-h${idx(host)}`
  const swEnd = (link: Link) => (link === 'ab' ? `${p}ab0` : link === 'ctl' ? `${p}c` : `${p}h${idx(link.host)}`)
  const farEnd = (link: Link): [string, string] => (link === 'ab' ? [swNs, `${p}ab1`] : link === 'ctl' ? [ctlNs, 'eth0'] : [hostNs(link.host), 'eth0'])
  const destroy = async () => {
    for (const ns of created.reverse()) await removeNamespace(ns)
  }
  const addNs = async (ns: string) => {
    await ip('netns', 'add', ns)
    created.push(ns)
    await ip('-n', ns, 'link', 'set', 'lo', 'up')
  }
  /** A veth from the switch (on `bridge`) to `ns`'s eth0 with `addr`. */
  const plug = async (swName: string, bridge: Bridge, ns: string, addr: string) => {
    await ip('-n', swNs, 'link', 'add', swName, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
    await ip('-n', swNs, 'link', 'set', swName, 'master', `br-${bridge}`, 'up')
    await ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0')
    await ip('-n', ns, 'link', 'set', 'eth0', 'up')
  }
  try {
    await addNs(swNs)
    for (const b of ['a', 'b']) {
      await ip('-n', swNs, 'link', 'add', `br-${b}`, 'type', 'bridge')
      await ip('-n', swNs, 'link', 'set', `br-${b}`, 'up')
    }
    await ip('-n', swNs, 'link', 'add', `${p}ab0`, 'type', 'veth', 'peer', 'name', `${p}ab1`)
    await ip('-n', swNs, 'link', 'set', `${p}ab0`, 'master', 'br-a', 'up')
    await ip('-n', swNs, 'link', 'set', `${p}ab1`, 'master', 'br-b', 'up')
    await addNs(ctlNs)
    await plug(`${p}c`, 'a', ctlNs, '10.88.0.1')
    for (const h of hosts) {
      await addNs(hostNs(h.name))
      await plug(swEnd({ host: h.name }), h.bridge, hostNs(h.name), `10.88.0.${10 + idx(h.name)}`)
    }
  } catch (err) {
    await destroy()
    throw err
  }
  const setLink = async (link: Link, state: 'up' | 'down') => {
    const [ns, dev] = farEnd(link)
    await ip('-n', swNs, 'link', 'set', swEnd(link), state)
    await ip('-n', ns, 'link', 'set', dev, state)
  }
  let degraded: 'netem' | 'iptables' | undefined
  return {
    prefix: p,
    ctlNs,
    ctlAddr: '10.88.0.1',
    hostNs,
    hostAddr: (host) => `10.88.0.${10 + idx(host)}`,
    cut: (link) => setLink(link, 'down'),
    heal: (link) => setLink(link, 'up'),
    async degradeHostLinks(how) {
      degraded = (await hasNetem(swNs)) ? 'netem' : 'iptables'
      for (const h of hosts) {
        if (degraded === 'netem') {
          const netem = ['root', 'netem', ...how.netem.split(' ')]
          await exec('tc', ['-n', swNs, 'qdisc', 'add', 'dev', swEnd({ host: h.name }), ...netem])
          await exec('tc', ['-n', hostNs(h.name), 'qdisc', 'add', 'dev', 'eth0', ...netem])
        } else {
          for (const chain of ['INPUT', 'OUTPUT']) {
            await exec('ip', [
              'netns',
              'exec',
              hostNs(h.name),
              'iptables',
              '-A',
              chain,
              '-m',
              'statistic',
              '--mode',
              'random',
              '--probability',
              String(how.lossPercent / 100),
              '-j',
              'DROP',
            ])
          }
        }
      }
      return degraded
    },
    async droppedPackets() {
      let n = 0
      for (const h of hosts) {
        if (degraded === 'netem') {
          for (const [ns, dev] of [
            [swNs, swEnd({ host: h.name })],
            [hostNs(h.name), 'eth0'],
          ] as const) {
            const out = (await exec('tc', ['-s', '-n', ns, 'qdisc', 'show', 'dev', dev])).stdout
            n += Number(/dropped (\d+)/.exec(out)?.[1] ?? 0)
          }
        } else if (degraded === 'iptables') {
          const out = (await exec('ip', ['netns', 'exec', hostNs(h.name), 'iptables', '-L', '-v', '-n', '-x'])).stdout
          for (const m of out.matchAll(/^\s*(\d+)\s+\d+\s+DROP\b/gm)) n += Number(m[1])
        }
      }
      return n
    },
    async clearHostLinks() {
      for (const h of hosts) {
        if (degraded === 'netem') {
          await exec('tc', ['-n', swNs, 'qdisc', 'del', 'dev', swEnd({ host: h.name }), 'root']).catch(() => undefined)
          await exec('tc', ['-n', hostNs(h.name), 'qdisc', 'del', 'dev', 'eth0', 'root']).catch(() => undefined)
        } else if (degraded === 'iptables') {
          await exec('ip', ['netns', 'exec', hostNs(h.name), 'iptables', '-F']).catch(() => undefined)
        }
      }
      degraded = undefined
    },
    destroy,
  }
}
