import { createRoute, type RouteConfig } from '@hono/zod-openapi'
import {
  AlertListAnswer,
  FaultBody,
  HostAnswer,
  HostCreate,
  HostListAnswer,
  HostUpdate,
  NotificationAnswer,
  NotificationCreate,
  NotificationListAnswer,
  NotificationRelease,
  NotificationRetry,
  SegmentAnswer,
  SegmentCapacityAnswer,
  SegmentCreate,
  SegmentListAnswer,
  SegmentPause,
  SegmentPlanAnswer,
  SegmentPlanCreate,
  SegmentResume,
  SegmentResumeAnswer,
  SegmentUpdate,
  VmoveAnswer,
  VmoveListAnswer,
} from '@lazarus/api-contract'
import * as z from 'zod'

/**
 * One `createRoute` per v1 operation, built from the contract (packages/api-contract): its
 * request and answer schemas, its fault shape. The OpenAPI document (http/openapi.ts) is
 * generated from these; a route served with `app.openapi(route, handler)` is validated by
 * the same definition. Paths are OpenAPI templates (`{segment_id}`), as `ROUTES` names them.
 *
 * Path and query parameters are declared as strings (a repeated query parameter as a list):
 * Masakari answers a malformed id with 404 and a malformed list parameter with its own 400
 * message, which the handlers (http/list-params.ts) keep giving.
 */

const json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } })
const ok = <T extends z.ZodType>(description: string, schema: T) => ({ description, content: json(schema) })
const fault = (description: string) => ({ description, content: json(FaultBody) })
const body = <T extends z.ZodType>(schema: T, required = true) => ({ required, content: json(schema) })

const id = (name: string) => z.string().meta({ param: { name, in: 'path' }, format: 'uuid' })
const segmentParams = z.object({ segment_id: id('segment_id') })
const hostParams = z.object({ segment_id: id('segment_id'), host_id: id('host_id') })
const notificationParams = z.object({ notification_id: id('notification_id') })
const vmoveParams = z.object({ notification_id: id('notification_id'), vmove_id: id('vmove_id') })

/** A query parameter: a string, or the list of its values when repeated. */
const param = (description: string) =>
  z
    .union([z.string(), z.array(z.string())])
    .optional()
    .meta({ description })
const paging = {
  limit: param('Page size (integer); above the maximum: the maximum; 0: an empty page'),
  marker: param('integer id (or, Lazarus extension, uuid) of the last item of the previous page; unknown: 400'),
  sort_key: param("Sort key (repeatable), one of the resource's columns; default created_at"),
  sort_dir: param('asc or desc, exactly (repeatable, no more than sort_key); default desc'),
}

const common = {
  400: fault('Bad request: the message names the field'),
  401: fault('No valid X-Auth-Token'),
  403: fault("The policy does not allow this action to the caller's roles"),
  406: fault('Microversion outside 1.0–1.3'),
}
const security = [{ apiKey: [] }]

/** What hosts' control_attributes may hold, and the warning header (see domain/control-attributes.ts). */
const CONTROL_ATTRIBUTES_DOC =
  '`control_attributes` give the BMC password by reference only (`password_file=/etc/lazarus/bmc/<host>`): a password in clear ' +
  '(`password=`, `passwd=`, a URL with `user:password@`) is refused with 400, and answers show the attributes masked. A host whose ' +
  "attributes name no fencing device at quick_evacuate_level 2 or 3 (e.g. Masakari's `SSH`), or do not parse, is accepted with a " +
  '`Lazarus-Warning` response header saying what to set.'

/** The segment's capacity policy on a host put on maintenance or deleted (domain/capacity.ts). */
const CAPACITY_POLICY_DOC =
  "Putting a host on maintenance, or deleting it, when the segment would then tolerate fewer host failures than its `capacity_target`: the segment's `capacity_policy` decides " +
  '(`warn`: a `Lazarus-Warning` header; `alert`: also a `capacity` alert; `refuse`: 409 with the figures, or 503 when the capacity cannot be computed, and nothing changed). '

export const listSegments = createRoute({
  method: 'get',
  path: '/v1/segments',
  tags: ['segments'],
  security,
  summary: 'List failover segments',
  request: { query: z.object({ recovery_method: param('Filter'), service_type: param('Filter'), enabled: param('Filter (boolean)'), ...paging }) },
  responses: { 200: ok('Segments', SegmentListAnswer), ...common },
})

export const createSegment = createRoute({
  method: 'post',
  path: '/v1/segments',
  tags: ['segments'],
  security,
  summary: 'Create a failover segment',
  request: { body: body(SegmentCreate) },
  responses: { 201: ok('Created', SegmentAnswer), 409: fault('Name taken'), 415: fault('Not JSON'), ...common },
})

export const showSegment = createRoute({
  method: 'get',
  path: '/v1/segments/{segment_id}',
  tags: ['segments'],
  security,
  summary: 'Show a segment',
  request: { params: segmentParams },
  responses: { 200: ok('Segment', SegmentAnswer), 404: fault('Not found'), ...common },
})

export const updateSegment = createRoute({
  method: 'put',
  path: '/v1/segments/{segment_id}',
  tags: ['segments'],
  security,
  summary: 'Update a segment',
  request: { params: segmentParams, body: body(SegmentUpdate) },
  responses: { 200: ok('Updated', SegmentAnswer), 404: fault('Not found'), 409: fault('Name taken, or new/running/error notifications'), 415: fault('Not JSON'), ...common },
})

export const deleteSegment = createRoute({
  method: 'delete',
  path: '/v1/segments/{segment_id}',
  tags: ['segments'],
  security,
  summary: 'Delete a segment and its hosts',
  request: { params: segmentParams },
  responses: { 204: { description: 'Deleted' }, 404: fault('Not found'), 409: fault('Notifications in progress'), ...common },
})

export const pauseSegment = createRoute({
  method: 'post',
  path: '/v1/segments/{segment_id}/pause',
  tags: ['segments'],
  security,
  summary: 'Pause automatic recovery (Lazarus extension)',
  description:
    "Allowed during a recovery: what is running goes on. Notifications of the segment's hosts are then accepted (202) and held, " +
    'status `new` with a message saying so, and nothing is fenced or evacuated until the segment resumes. Pausing again keeps `paused_at`.',
  request: { params: segmentParams, body: body(SegmentPause, false) },
  responses: { 200: ok('Paused', SegmentAnswer), 404: fault('Not found'), 415: fault('Not JSON'), ...common },
})

export const resumeSegment = createRoute({
  method: 'post',
  path: '/v1/segments/{segment_id}/resume',
  tags: ['segments'],
  security,
  summary: 'Resume automatic recovery (Lazarus extension)',
  description: 'Held notifications are published now (`release_held` true, the default), or recorded `ignored` (`release_held` false).',
  request: { params: segmentParams, body: body(SegmentResume, false) },
  responses: { 200: ok('Resumed', SegmentResumeAnswer), 404: fault('Not found'), 415: fault('Not JSON'), ...common },
})

const INVENTORY_DOC =
  "Read now from Nova (compute services, servers, server groups, aggregates) and Placement (inventories, usages), with the api's OpenStack settings; " +
  '503 naming the cause when the api has none or Nova or Placement cannot be read.'

export const segmentCapacity = createRoute({
  method: 'get',
  path: '/v1/segments/{segment_id}/capacity',
  tags: ['segments'],
  security,
  summary: 'How many host failures the segment tolerates (Lazarus extension)',
  description:
    "The planner's failover capacity: exact for one host failure (each host's failure planned as a recovery would), a conservative bound above, at most CAPACITY_MAX_K; " +
    'the free capacity still needed for one more failure, the hosts whose failure could not be absorbed. Sets `lazarus_segment_host_failures_tolerated`. ' +
    INVENTORY_DOC,
  request: { params: segmentParams },
  responses: { 200: ok('Capacity', SegmentCapacityAnswer), 404: fault('Not found'), 503: fault('No OpenStack credentials, or Nova or Placement unavailable'), ...common },
})

export const planSegment = createRoute({
  method: 'post',
  path: '/v1/segments/{segment_id}/plans',
  tags: ['segments'],
  security,
  summary: 'What a recovery of these hosts would do (Lazarus extension); nothing is changed',
  description:
    'Per instance of the named hosts: its target host, wave, priority, restart group, whether it fits (and why not), and when it is expected ACTIVE; the waves; the expected total. ' +
    "Expected times use the median of the api's succeeded evacuations (else PLAN_EVACUATION_S) and `concurrency` evacuations at once (default PLAN_CONCURRENCY). " +
    "A host that is not the segment's is a 400 naming it. " +
    INVENTORY_DOC,
  request: { params: segmentParams, body: body(SegmentPlanCreate) },
  responses: {
    200: ok('Plan', SegmentPlanAnswer),
    404: fault('Not found'),
    415: fault('Not JSON'),
    503: fault('No OpenStack credentials, or Nova or Placement unavailable'),
    ...common,
  },
})

export const listHosts = createRoute({
  method: 'get',
  path: '/v1/segments/{segment_id}/hosts',
  tags: ['hosts'],
  security,
  summary: 'List hosts of a segment',
  request: {
    params: segmentParams,
    query: z.object({
      name: param('Filter'),
      type: param('Filter'),
      control_attributes: param('Filter'),
      on_maintenance: param('Filter (boolean)'),
      reserved: param('Filter (boolean)'),
      ...paging,
    }),
  },
  responses: { 200: ok('Hosts', HostListAnswer), 404: fault('No such segment'), ...common },
})

export const createHost = createRoute({
  method: 'post',
  path: '/v1/segments/{segment_id}/hosts',
  tags: ['hosts'],
  security,
  summary: 'Add a host',
  description: CONTROL_ATTRIBUTES_DOC,
  request: { params: segmentParams, body: body(HostCreate) },
  responses: { 201: ok('Created', HostAnswer), 404: fault('No such segment'), 409: fault('Host name already in a segment'), 415: fault('Not JSON'), ...common },
})

export const showHost = createRoute({
  method: 'get',
  path: '/v1/segments/{segment_id}/hosts/{host_id}',
  tags: ['hosts'],
  security,
  summary: 'Show a host',
  request: { params: hostParams },
  responses: { 200: ok('Host', HostAnswer), 404: fault('Not found'), ...common },
})

export const updateHost = createRoute({
  method: 'put',
  path: '/v1/segments/{segment_id}/hosts/{host_id}',
  tags: ['hosts'],
  security,
  summary: 'Update a host',
  description:
    'Taking a host off maintenance that a recovery put there (`on_maintenance: false`) also asks the fencer to undo the force-down ' +
    '(`host.unfence_requested.v1`; the compute service is re-enabled too when the api runs with UNFENCE_ENABLES_SERVICE=true). `fence_state` becomes `unfencing`, then `unfenced`. ' +
    CAPACITY_POLICY_DOC +
    CONTROL_ATTRIBUTES_DOC,
  request: { params: hostParams, body: body(HostUpdate) },
  responses: {
    200: ok('Updated', HostAnswer),
    404: fault('Not found'),
    409: fault("Name taken, a recovery of the host is running, or the segment's capacity_policy refuse and its target"),
    415: fault('Not JSON'),
    503: fault('capacity_policy refuse and the capacity cannot be computed'),
    ...common,
  },
})

export const deleteHost = createRoute({
  method: 'delete',
  path: '/v1/segments/{segment_id}/hosts/{host_id}',
  tags: ['hosts'],
  security,
  summary: 'Delete a host',
  description: CAPACITY_POLICY_DOC,
  request: { params: hostParams },
  responses: {
    204: { description: 'Deleted' },
    404: fault('Not found'),
    409: fault("Recovery running, or the segment's capacity_policy refuse and its target"),
    503: fault('capacity_policy refuse and the capacity cannot be computed'),
    ...common,
  },
})

export const listNotifications = createRoute({
  method: 'get',
  path: '/v1/notifications',
  tags: ['notifications'],
  security,
  summary: 'List notifications',
  request: {
    query: z.object({
      status: param('Filter'),
      source_host_uuid: param('Filter'),
      type: param('Filter'),
      'generated-since': param('ISO 8601 date-time'),
      held: param('Lazarus extension: `true` for the notifications held while their segment is paused, `false` for the others'),
      failover_segment_uuid: param('Lazarus extension: filter by segment'),
      ...paging,
    }),
  },
  responses: { 200: ok('Notifications', NotificationListAnswer), ...common },
})

export const createNotification = createRoute({
  method: 'post',
  path: '/v1/notifications',
  tags: ['notifications'],
  security,
  summary: 'Report a failure',
  description:
    'Payload by type — COMPUTE_HOST: event STARTED|STOPPED, host_status NORMAL|UNKNOWN, cluster_status ONLINE|OFFLINE; ' +
    'PROCESS: process_name, event; VM: instance_uuid, vir_domain_event, event. A host on maintenance or in a disabled segment: recorded `ignored`.',
  request: { body: body(NotificationCreate) },
  responses: {
    202: ok('Accepted', NotificationAnswer),
    409: fault('Duplicate within the detection interval'),
    413: fault('Body too large'),
    415: fault('Not JSON'),
    ...common,
  },
})

export const showNotification = createRoute({
  method: 'get',
  path: '/v1/notifications/{notification_id}',
  tags: ['notifications'],
  security,
  summary: 'Show a notification (workflow details from 1.1)',
  request: { params: notificationParams },
  responses: { 200: ok('Notification', NotificationAnswer), 404: fault('Not found'), ...common },
})

export const retryNotification = createRoute({
  method: 'post',
  path: '/v1/notifications/{notification_id}/retry',
  tags: ['notifications'],
  security,
  summary: 'Run a failed recovery again (Lazarus extension)',
  description:
    'For a `failed` or `error` notification: back to `new`, and published again; its message says what the retry will do. ' +
    'A host on maintenance only because this recovery put it there (a failed fence) is fenced again with its current control attributes, then evacuated. The body may be empty.',
  request: { params: notificationParams, body: body(NotificationRetry, false) },
  responses: {
    202: ok('Queued again', NotificationAnswer),
    404: fault('Not found'),
    409: fault('Not failed or error, its host is gone, on maintenance an operator set, or its segment disabled'),
    415: fault('Not JSON'),
    ...common,
  },
})

export const releaseNotification = createRoute({
  method: 'post',
  path: '/v1/notifications/{notification_id}/release',
  tags: ['notifications'],
  security,
  summary: 'Release one held notification (Lazarus extension)',
  description:
    'A notification held while its segment is paused (by an operator, or by the storm guard) is published now and its recovery runs; ' +
    'the segment stays paused and the other held notifications stay held. The body may be empty.',
  request: { params: notificationParams, body: body(NotificationRelease, false) },
  responses: {
    202: ok('Released', NotificationAnswer),
    404: fault('Not found'),
    409: fault('Not held, or its host is no longer registered'),
    415: fault('Not JSON'),
    ...common,
  },
})

export const notificationEvents = createRoute({
  method: 'get',
  path: '/v1/notifications/{notification_id}/events',
  tags: ['notifications'],
  security,
  summary: 'Follow a notification (Server-Sent Events, Lazarus extension)',
  description: '`event: notification` with `{notification, vmoves}` now and on every change; `event: end` once the status is final.',
  request: { params: notificationParams },
  responses: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: z.string() } } }, 404: fault('Not found'), ...common },
})

export const listVmoves = createRoute({
  method: 'get',
  path: '/v1/notifications/{notification_id}/vmoves',
  tags: ['notifications'],
  security,
  summary: 'List instance moves of a host notification (1.3)',
  request: { params: notificationParams, query: z.object({ status: param('Filter'), type: param('Filter'), ...paging }) },
  responses: { 200: ok('Vmoves', VmoveListAnswer), 404: fault('Not found'), ...common },
})

export const showVmove = createRoute({
  method: 'get',
  path: '/v1/notifications/{notification_id}/vmoves/{vmove_id}',
  tags: ['notifications'],
  security,
  summary: 'Show one instance move (1.3)',
  request: { params: vmoveParams },
  responses: { 200: ok('Vmove', VmoveAnswer), 404: fault('Not found'), ...common },
})

export const listAlerts = createRoute({
  method: 'get',
  path: '/v1/alerts',
  tags: ['alerts'],
  security,
  summary: 'List alerts, newest first (Lazarus extension); `cleared_at` is set once its condition ended',
  request: {
    query: z.object({
      segment_id: param('Filter: segment uuid'),
      kind: param('Filter: storm, isolated, unconfirmed, fence_failed, capacity, other'),
      active: param('Filter: `true` for the alerts not cleared yet, `false` for the cleared ones'),
      ...paging,
    }),
  },
  responses: { 200: ok('Alerts', AlertListAnswer), ...common },
})

/** Ingest (ingest/routes.ts): Alertmanager's payload is mapped by MAPPING_RULES, each alert on its own, so its schema is not the contract's. */
export const ingestAlertmanager = createRoute({
  method: 'post',
  path: '/v1/ingest/alertmanager',
  tags: ['ingest'],
  security,
  summary: 'Take an Alertmanager webhook (payload version 4) (Lazarus extension)',
  description:
    'Each alert is mapped on its own (MAPPING_RULES): a firing node-down alert is a COMPUTE_HOST STOPPED notification, a resolved one STARTED. ' +
    'An alert already taken is a duplicate; one that does not map, or that the notification path refuses, is dead-lettered. 200 with one result per alert.',
  request: { body: body(z.record(z.string(), z.unknown())) },
  responses: { 200: ok('One result per alert', z.record(z.string(), z.unknown())), 415: fault('Not JSON'), ...common },
})

export const ingestDeadLetters = createRoute({
  method: 'get',
  path: '/v1/ingest/dead-letters',
  tags: ['ingest'],
  security,
  summary: 'List what the ingest routes refused, newest first (Lazarus extension)',
  request: { query: z.object({ source: param('Filter: alertmanager'), limit: param('1–1000, default 100') }) },
  responses: { 200: ok('Dead letters', z.record(z.string(), z.unknown())), ...common },
})

/** Every v1 operation, in the order of the document. */
export const V1_ROUTES: readonly RouteConfig[] = [
  listSegments,
  createSegment,
  showSegment,
  updateSegment,
  deleteSegment,
  pauseSegment,
  resumeSegment,
  segmentCapacity,
  planSegment,
  listHosts,
  createHost,
  showHost,
  updateHost,
  deleteHost,
  listNotifications,
  createNotification,
  showNotification,
  retryNotification,
  releaseNotification,
  notificationEvents,
  listVmoves,
  showVmove,
  listAlerts,
  ingestAlertmanager,
  ingestDeadLetters,
]

/**
 * Operations documented here but served by plain Hono routes, not `app.openapi`: ingest's
 * Alertmanager webhook and dead letters (their bodies are Alertmanager's and the ingest
 * mapping's, checked in ingest/routes.ts, which answers with its own per-alert results).
 */
export const DOCUMENTATION_ONLY: ReadonlySet<RouteConfig> = new Set([ingestAlertmanager, ingestDeadLetters])
