import { randomUUID } from 'node:crypto'
import { makeEvent, type HostSnapshot, type NotificationReceivedV1, type SegmentSnapshot } from '@lazarus/contracts'

export const segment = (over: Partial<SegmentSnapshot> = {}): SegmentSnapshot => ({
  id: randomUUID(),
  name: 'segment-a',
  recoveryMethod: 'auto',
  serviceType: 'compute',
  enabled: true,
  quickEvacuateLevel: 2,
  ...over,
})

export const host = (over: Partial<HostSnapshot> = {}): HostSnapshot => ({
  id: randomUUID(),
  name: 'compute-01',
  type: 'COMPUTE',
  controlAttributes: '',
  reserved: false,
  onMaintenance: false,
  ...over,
})

export const notification = (
  over: {
    type?: NotificationReceivedV1['payload']['type']
    payload?: Record<string, unknown>
    host?: Partial<HostSnapshot>
    segment?: Partial<SegmentSnapshot>
    notificationId?: string
  } = {},
): NotificationReceivedV1 => {
  const h = host(over.host)
  const notificationId = over.notificationId ?? randomUUID()
  return makeEvent({
    type: 'notification.received.v1',
    correlationId: notificationId,
    source: 'api',
    payload: {
      notificationId,
      type: over.type ?? 'COMPUTE_HOST',
      hostname: h.name,
      generatedTime: new Date().toISOString(),
      payload: over.payload ?? { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
      host: h,
      segment: segment(over.segment),
    },
  })
}
