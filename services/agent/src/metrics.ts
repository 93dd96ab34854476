import { Counter, Gauge, type Registry } from '@lazarus/runtime'
import type { Agent } from './agent.js'
import type { Watchdog } from './watchdog/watchdog.js'

/** A counter that reports a total the agent keeps (read at each scrape). */
const total = (registry: Registry, name: string, help: string, read: () => number) => {
  let seen = 0
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read()
      if (now > seen) this.inc(now - seen)
      seen = now
    },
  })
}

/**
 * The agent's Prometheus metrics, read from the agent's state at each scrape: heartbeats
 * sent, dropped while NATS was down and failed to publish, the NATS connection, and the
 * probe results the last heartbeat carried (how many checks of each group were ok or not).
 */
export const registerAgentMetrics = (registry: Registry, agent: Agent, connected: () => boolean, watchdog?: Watchdog): void => {
  if (watchdog) {
    new Gauge({
      name: 'lazarus_agent_watchdog_fed',
      help: '1 while the agent feeds the watchdog device; 0 once it starves it (the host is isolated and reboots)',
      registers: [registry],
      collect() {
        this.set(watchdog.fed ? 1 : 0)
      },
    })
    new Gauge({
      name: 'lazarus_agent_watchdog_last_fed_timestamp_seconds',
      help: 'When the last keepalive was written to the watchdog device, Unix seconds',
      registers: [registry],
      collect() {
        const at = watchdog.lastFedAt
        if (at !== undefined) this.set(at / 1000)
      },
    })
  }
  total(registry, 'lazarus_agent_heartbeats_sent_total', 'Heartbeats published on NATS', () => agent.sent)
  total(registry, 'lazarus_agent_heartbeats_dropped_total', 'Heartbeats not sent because NATS was disconnected', () => agent.dropped)
  total(registry, 'lazarus_agent_publish_errors_total', 'Heartbeats whose publish failed', () => agent.publishErrors)
  new Gauge({
    name: 'lazarus_agent_nats_connected',
    help: '1 while the NATS connection is up',
    registers: [registry],
    collect() {
      this.set(connected() ? 1 : 0)
    },
  })
  new Gauge({
    name: 'lazarus_agent_last_heartbeat_timestamp_seconds',
    help: 'When the last heartbeat was built (sentAt), Unix seconds',
    registers: [registry],
    collect() {
      const last = agent.last
      if (last) this.set(last.sentAt / 1000)
    },
  })
  new Gauge({
    name: 'lazarus_agent_probe_checks',
    help: 'Checks of each probe group in the last heartbeat, by result',
    labelNames: ['group', 'ok'],
    registers: [registry],
    collect() {
      this.reset()
      const probes = agent.last?.probes
      if (!probes) return
      const groups = {
        processes: probes.processes,
        management: probes.management,
        storage: probes.storage,
        storageHeartbeat: probes.storageHeartbeat ? [probes.storageHeartbeat] : [],
        peers: probes.peers,
      }
      for (const [group, checks] of Object.entries(groups)) {
        const ok = checks.filter((c) => c.ok).length
        this.set({ group, ok: 'true' }, ok)
        this.set({ group, ok: 'false' }, checks.length - ok)
      }
    },
  })
}
