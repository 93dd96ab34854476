#!/usr/bin/env node
import { connect } from '@nats-io/transport-node'
import { createLogger, createMetrics, exitOnStartFailure, onShutdown, startOpsServer } from '@lazarus/runtime'
import { createAgent } from './agent.js'
import { loadAgentConfig } from './config.js'
import { registerAgentMetrics } from './metrics.js'

const log = createLogger('agent')
try {
  const config = loadAgentConfig()
  log.info({ natsUrl: config.natsUrl, auth: config.nats.auth, tls: config.nats.tls }, 'connecting to NATS')
  const nc = await connect({
    ...config.nats.options,
    servers: config.natsUrl,
    name: `lazarus-agent ${config.hostName}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
  })
  let connected = true
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') connected = false
      else if (s.type === 'reconnect') connected = true
      if (s.type === 'disconnect' || s.type === 'reconnect') log.info({ status: s.type }, 'NATS connection')
    }
  })()
  const agent = createAgent({ config, nc, log, connected: () => connected })
  await agent.start()
  let ops: Awaited<ReturnType<typeof startOpsServer>> | undefined
  if (config.ops) {
    // Event-loop lag sampled once a second, not 100 times: the agent idles between heartbeats.
    const metrics = createMetrics('agent', { eventLoopMonitoringPrecisionMs: 1000 })
    registerAgentMetrics(metrics, agent, () => connected)
    // Ready: connected to NATS and heartbeating.
    ops = await startOpsServer({ ...config.ops, metrics, ready: () => connected && agent.sent > 0 })
    log.info({ opsPort: ops.port }, 'ops endpoint up')
  }
  onShutdown(log, [
    ['agent', () => agent.stop()],
    ['nats', () => nc.drain()],
    ['ops', async () => ops?.close()],
  ])
} catch (err) {
  exitOnStartFailure('agent', err, log)
}
