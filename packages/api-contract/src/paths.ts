/**
 * The v1 paths. `ROUTES` lists every operation as the OpenAPI document names it (path
 * templates with `{param}`); `paths` builds concrete paths, parameters URL-encoded. The api
 * also serves each path under `/v1/{project_id}/`.
 */

export type HttpMethod = 'get' | 'post' | 'put' | 'delete'

export const ROUTES = {
  '/v1/segments': ['get', 'post'],
  '/v1/segments/{segment_id}': ['get', 'put', 'delete'],
  '/v1/segments/{segment_id}/pause': ['post'],
  '/v1/segments/{segment_id}/resume': ['post'],
  '/v1/segments/{segment_id}/capacity': ['get'],
  '/v1/segments/{segment_id}/plans': ['post'],
  '/v1/segments/{segment_id}/hosts': ['get', 'post'],
  '/v1/segments/{segment_id}/hosts/{host_id}': ['get', 'put', 'delete'],
  '/v1/notifications': ['get', 'post'],
  '/v1/notifications/{notification_id}': ['get'],
  '/v1/notifications/{notification_id}/retry': ['post'],
  '/v1/notifications/{notification_id}/release': ['post'],
  '/v1/notifications/{notification_id}/events': ['get'],
  '/v1/notifications/{notification_id}/vmoves': ['get'],
  '/v1/notifications/{notification_id}/vmoves/{vmove_id}': ['get'],
  '/v1/alerts': ['get'],
  '/v1/ingest/alertmanager': ['post'],
  '/v1/ingest/dead-letters': ['get'],
} as const satisfies Record<string, readonly HttpMethod[]>

const e = encodeURIComponent

export const paths = {
  segments: () => '/v1/segments',
  segment: (segmentId: string) => `/v1/segments/${e(segmentId)}`,
  segmentPause: (segmentId: string) => `/v1/segments/${e(segmentId)}/pause`,
  segmentResume: (segmentId: string) => `/v1/segments/${e(segmentId)}/resume`,
  segmentCapacity: (segmentId: string) => `/v1/segments/${e(segmentId)}/capacity`,
  segmentPlans: (segmentId: string) => `/v1/segments/${e(segmentId)}/plans`,
  hosts: (segmentId: string) => `/v1/segments/${e(segmentId)}/hosts`,
  host: (segmentId: string, hostId: string) => `/v1/segments/${e(segmentId)}/hosts/${e(hostId)}`,
  notifications: () => '/v1/notifications',
  notification: (notificationId: string) => `/v1/notifications/${e(notificationId)}`,
  notificationRetry: (notificationId: string) => `/v1/notifications/${e(notificationId)}/retry`,
  notificationRelease: (notificationId: string) => `/v1/notifications/${e(notificationId)}/release`,
  notificationEvents: (notificationId: string) => `/v1/notifications/${e(notificationId)}/events`,
  vmoves: (notificationId: string) => `/v1/notifications/${e(notificationId)}/vmoves`,
  vmove: (notificationId: string, vmoveId: string) => `/v1/notifications/${e(notificationId)}/vmoves/${e(vmoveId)}`,
  alerts: () => '/v1/alerts',
}
