import type { Host, Notification, Segment } from '@lazarus/api-contract'

/** Whole v1 bodies, as the api answers them, for the stand-in apis of the CLI's tests. */

const AT = '2026-01-01T00:00:00.000Z'
const common = { created_at: AT, updated_at: null, deleted_at: null, deleted: false as const }

export const segmentBody = (over: Partial<Segment> = {}): Segment => ({
  uuid: 'aaaaaaaa-0000-4000-8000-000000000001',
  id: 1,
  name: 'seg',
  description: null,
  recovery_method: 'auto',
  service_type: 'COMPUTE',
  enabled: true,
  quick_evacuate_level: 2,
  paused: false,
  paused_reason: null,
  paused_at: null,
  ...common,
  ...over,
})

export const hostBody = (over: Partial<Host> = {}): Host => {
  const segment = segmentBody()
  return {
    uuid: 'bbbbbbbb-0000-4000-8000-000000000002',
    id: 1,
    name: 'h1',
    type: 'COMPUTE',
    control_attributes: null,
    reserved: false,
    on_maintenance: false,
    fence_state: null,
    failover_segment_id: segment.uuid,
    failover_segment: segment,
    ...common,
    ...over,
  }
}

export const notificationBody = (over: Partial<Notification> = {}): Notification => ({
  notification_uuid: 'cccccccc-0000-4000-8000-000000000003',
  id: 1,
  type: 'COMPUTE_HOST',
  status: 'new',
  source_host_uuid: 'bbbbbbbb-0000-4000-8000-000000000002',
  hostname: 'h1',
  failover_segment_uuid: 'aaaaaaaa-0000-4000-8000-000000000001',
  generated_time: AT,
  payload: {},
  message: null,
  ...common,
  ...over,
})
