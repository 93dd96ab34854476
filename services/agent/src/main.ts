#!/usr/bin/env node
import { connect } from '@nats-io/transport-node'
import { createLogger, createMetrics, exitOnStartFailure, onShutdown, startOpsServer } from '@lazarus/runtime'
import { createAgent } from './agent.js'
import { loadAgentConfig } from './config.js'
import { registerAgentMetrics } from './metrics.js'
import { openWatchdogDevice } from './watchdog/device.js'
import { checkFeedInterval, startWatchdog, type Watchdog } from './watchdog/watchdog.js'

const log = createLogger('agent')
let watchdog: Watchdog | undefined
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
  const agent = createAgent({ config, nc, log, connected: () => connected, confirm: () => nc.flush() })
  await agent.start()
  if (config.watchdog) {
    // Armed only once connected: an agent that cannot reach NATS at start never arms it, so
    // a host that boots isolated is not rebooted over and over.
    const device = openWatchdogDevice(config.watchdog.device)
    try {
      checkFeedInterval(config.watchdog, device)
    } catch (err) {
      device.disarm()
      throw err
    }
    watchdog = startWatchdog({
      device,
      config: config.watchdog,
      peersConfigured: config.probes.peers.length > 0,
      reach: () => ({ controlPlaneOkAt: agent.controlPlaneOkAt, peerOkAt: agent.peerOkAt }),
      log,
    })
  }
  let ops: Awaited<ReturnType<typeof startOpsServer>> | undefined
  if (config.ops) {
    // Event-loop lag sampled once a second, not 100 times: the agent idles between heartbeats.
    const metrics = createMetrics('agent', { eventLoopMonitoringPrecisionMs: 1000 })
    registerAgentMetrics(metrics, agent, () => connected, watchdog)
    // Ready: connected to NATS and heartbeating.
    ops = await startOpsServer({ ...config.ops, metrics, ready: () => connected && agent.sent > 0 })
    log.info({ opsPort: ops.port }, 'ops endpoint up')
  }
  onShutdown(log, [
    // First: a planned stop disarms the watchdog (magic close) before anything can hang.
    ['watchdog', async () => watchdog?.stop()],
    ['agent', () => agent.stop()],
    ['nats', () => nc.drain()],
    ['ops', async () => ops?.close()],
  ])
} catch (err) {
  // A start that failed after arming is a planned stop, not an isolation: disarm.
  try {
    watchdog?.stop()
  } catch (closeErr) {
    log.error({ err: closeErr }, 'watchdog: could not disarm')
  }
  exitOnStartFailure('agent', err, log)
}
