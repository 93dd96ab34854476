import { randomUUID } from 'node:crypto'
import { makeEvent, type HostFailedV1, type QuickEvacuateLevel } from '@lazarus/contracts'
import { writeBmcSecret } from './bmc-secrets.js'

export { testBmcSecretDir, writeBmcSecret } from './bmc-secrets.js'

/**
 * Control attributes of a host whose BMC is cloud-sim's Redfish at `simUrl` (plain HTTP, so
 * `insecure_http=true`), the password in a file of {@link testBmcSecretDir}: the fencer of
 * the test must run with that directory as its BMC_SECRET_DIR.
 */
export const simRedfishAttributes = (simUrl: string, host: string, credentials: { username: string; password: string }): string =>
  `driver=redfish address=${simUrl}/redfish/v1/Systems/${host} username=${credentials.username} password_file=${writeBmcSecret(host, credentials.password)} insecure_http=true`

/** A `host.failed.v1` as the detector publishes it, for a fresh notification of `host`. */
export const hostFailedEvent = (o: { host: string; level: QuickEvacuateLevel; controlAttributes: string; reason?: string; segmentName?: string }): HostFailedV1 => {
  const notificationId = randomUUID()
  return makeEvent({
    type: 'host.failed.v1',
    correlationId: notificationId,
    source: 'detector',
    payload: {
      notificationId,
      reason: o.reason ?? 'test',
      host: { id: randomUUID(), name: o.host, type: 'COMPUTE', controlAttributes: o.controlAttributes, reserved: false, onMaintenance: false },
      segment: {
        id: randomUUID(),
        name: o.segmentName ?? 'segment-a',
        recoveryMethod: 'auto',
        serviceType: 'compute',
        enabled: true,
        quickEvacuateLevel: o.level,
      },
    },
  })
}
