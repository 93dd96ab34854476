import {
  AlertBody,
  FaultBody,
  HostBody,
  HostCreate,
  HostUpdate,
  NotificationBody,
  NotificationCreate,
  SegmentBody,
  SegmentCreate,
  SegmentPause,
  SegmentResume,
  SegmentUpdate,
  VmoveBody,
} from '@lazarus/api-contract'
import * as z from 'zod'
import { MAX_VERSION } from '../http/microversion.js'

type Json = Record<string, unknown>

const schema = (s: z.ZodType, io: 'input' | 'output' = 'output'): Json => z.toJSONSchema(s, { io, target: 'draft-2020-12', unrepresentable: 'any', reused: 'inline' }) as Json

const body = (s: z.ZodType) => ({ required: true, content: { 'application/json': { schema: schema(s, 'input') } } })
const optionalBody = (s: z.ZodType) => ({ required: false, content: { 'application/json': { schema: schema(s, 'input') } } })
const ok = (description: string, s: z.ZodType) => ({ description, content: { 'application/json': { schema: schema(s) } } })
const fault = (description: string) => ({ description, content: { 'application/json': { schema: schema(FaultBody) } } })

const wrap = (key: string, s: z.ZodType) => z.object({ [key]: s })
const list = (key: string, s: z.ZodType) => z.object({ [key]: z.array(s) })

const pathParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string', format: 'uuid' } })
const query = (name: string, description: string, type = 'string') => ({ name, in: 'query', required: false, description, schema: { type } })
const paging = [
  query('limit', 'Page size; above the maximum: the maximum; 0: an empty page', 'integer'),
  query('marker', 'integer id (or, Lazarus extension, uuid) of the last item of the previous page; unknown: 400'),
  query('sort_key', "Sort key (repeatable), one of the resource's columns; default created_at"),
  query('sort_dir', 'asc or desc, exactly (repeatable, no more than sort_key); default desc'),
]
const common = {
  400: fault('Bad request: the message names the field'),
  401: fault('No valid X-Auth-Token'),
  403: fault("The policy does not allow this action to the caller's roles"),
  406: fault('Microversion outside 1.0–1.3'),
}

/** What hosts' control_attributes may hold, and the warning header (see domain/control-attributes.ts). */
const CONTROL_ATTRIBUTES_DOC =
  '`control_attributes` give the BMC password by reference only (`password_file=/etc/lazarus/bmc/<host>`): a password in clear ' +
  '(`password=`, `passwd=`, a URL with `user:password@`) is refused with 400, and answers show the attributes masked. A host whose ' +
  "attributes name no fencing device at quick_evacuate_level 2 or 3 (e.g. Masakari's `SSH`), or do not parse, is accepted with a " +
  '`Lazarus-Warning` response header saying what to set.'

/** The OpenAPI 3.1 document of the v1 API, built from the same zod schemas that validate it. */
export const openApiDocument = (): Json => ({
  openapi: '3.1.0',
  info: {
    title: 'Lazarus instance-HA API',
    version: MAX_VERSION,
    description:
      'Masakari-compatible v1 API (microversions 1.0–1.3 via `OpenStack-API-Version: instance-ha X.Y`; without it, the latest). ' +
      'Every path is also served under `/v1/{project_id}/`. Lazarus extensions: segment `quick_evacuate_level`; ' +
      '`GET /v1/notifications/{id}/events` (Server-Sent Events); segment pause/resume; notification retry; `GET /v1/alerts`; ' +
      'the `hostname` of a notification, the `fence_state` of a host, the `paused` fields of a segment. ' +
      'Auth: `X-Auth-Token` is a Keystone token when the api is configured with Keystone, else a static API key.',
  },
  components: {
    securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-Auth-Token' } },
  },
  security: [{ apiKey: [] }],
  paths: {
    '/v1/segments': {
      get: {
        summary: 'List failover segments',
        parameters: [query('recovery_method', 'Filter'), query('service_type', 'Filter'), query('enabled', 'Filter (boolean)'), ...paging],
        responses: { 200: ok('Segments', list('segments', SegmentBody)), ...common },
      },
      post: {
        summary: 'Create a failover segment',
        requestBody: body(SegmentCreate),
        responses: { 201: ok('Created', wrap('segment', SegmentBody)), 409: fault('Name taken'), ...common },
      },
    },
    '/v1/segments/{segment_id}': {
      parameters: [pathParam('segment_id')],
      get: { summary: 'Show a segment', responses: { 200: ok('Segment', wrap('segment', SegmentBody)), 404: fault('Not found'), ...common } },
      put: {
        summary: 'Update a segment',
        requestBody: body(SegmentUpdate),
        responses: { 200: ok('Updated', wrap('segment', SegmentBody)), 404: fault('Not found'), 409: fault('Name taken, or new/running/error notifications'), ...common },
      },
      delete: {
        summary: 'Delete a segment and its hosts',
        responses: { 204: { description: 'Deleted' }, 404: fault('Not found'), 409: fault('Notifications in progress'), ...common },
      },
    },
    '/v1/segments/{segment_id}/pause': {
      parameters: [pathParam('segment_id')],
      post: {
        summary: 'Pause automatic recovery (Lazarus extension)',
        description:
          "Allowed during a recovery: what is running goes on. Notifications of the segment's hosts are then accepted (202) and held, " +
          'status `new` with a message saying so, and nothing is fenced or evacuated until the segment resumes. Pausing again keeps `paused_at`.',
        requestBody: optionalBody(SegmentPause),
        responses: { 200: ok('Paused', wrap('segment', SegmentBody)), 404: fault('Not found'), ...common },
      },
    },
    '/v1/segments/{segment_id}/resume': {
      parameters: [pathParam('segment_id')],
      post: {
        summary: 'Resume automatic recovery (Lazarus extension)',
        description: 'Held notifications are published now (`release_held` true, the default), or recorded `ignored` (`release_held` false).',
        requestBody: optionalBody(SegmentResume),
        responses: {
          200: ok('Resumed', z.object({ segment: SegmentBody, held_notifications: z.object({ count: z.number().int(), action: z.enum(['released', 'ignored']) }) })),
          404: fault('Not found'),
          ...common,
        },
      },
    },
    '/v1/segments/{segment_id}/hosts': {
      parameters: [pathParam('segment_id')],
      get: {
        summary: 'List hosts of a segment',
        parameters: [
          query('name', 'Filter'),
          query('type', 'Filter'),
          query('control_attributes', 'Filter'),
          query('on_maintenance', 'Filter (boolean)'),
          query('reserved', 'Filter (boolean)'),
          ...paging,
        ],
        responses: { 200: ok('Hosts', list('hosts', HostBody)), 404: fault('No such segment'), ...common },
      },
      post: {
        summary: 'Add a host',
        description: CONTROL_ATTRIBUTES_DOC,
        requestBody: body(HostCreate),
        responses: { 201: ok('Created', wrap('host', HostBody)), 404: fault('No such segment'), 409: fault('Host name already in a segment'), ...common },
      },
    },
    '/v1/segments/{segment_id}/hosts/{host_id}': {
      parameters: [pathParam('segment_id'), pathParam('host_id')],
      get: { summary: 'Show a host', responses: { 200: ok('Host', wrap('host', HostBody)), 404: fault('Not found'), ...common } },
      put: {
        summary: 'Update a host',
        requestBody: body(HostUpdate),
        description:
          'Taking a host off maintenance that a recovery put there (`on_maintenance: false`) also asks the fencer to undo the force-down ' +
          '(`host.unfence_requested.v1`; the compute service is re-enabled too when the api runs with UNFENCE_ENABLES_SERVICE=true). `fence_state` becomes `unfencing`, then `unfenced`. ' +
          CONTROL_ATTRIBUTES_DOC,
        responses: { 200: ok('Updated', wrap('host', HostBody)), 404: fault('Not found'), 409: fault('Name taken, or a recovery of the host is running'), ...common },
      },
      delete: { summary: 'Delete a host', responses: { 204: { description: 'Deleted' }, 404: fault('Not found'), 409: fault('Recovery running'), ...common } },
    },
    '/v1/notifications': {
      get: {
        summary: 'List notifications',
        parameters: [query('status', 'Filter'), query('source_host_uuid', 'Filter'), query('type', 'Filter'), query('generated-since', 'ISO 8601 date-time'), ...paging],
        responses: { 200: ok('Notifications', list('notifications', NotificationBody)), ...common },
      },
      post: {
        summary: 'Report a failure',
        description:
          'Payload by type — COMPUTE_HOST: event STARTED|STOPPED, host_status NORMAL|UNKNOWN, cluster_status ONLINE|OFFLINE; ' +
          'PROCESS: process_name, event; VM: instance_uuid, vir_domain_event, event. A host on maintenance or in a disabled segment: recorded `ignored`.',
        requestBody: body(NotificationCreate),
        responses: {
          202: ok('Accepted', wrap('notification', NotificationBody)),
          409: fault('Duplicate within the detection interval'),
          413: fault('Body too large'),
          415: fault('Not JSON'),
          ...common,
        },
      },
    },
    '/v1/notifications/{notification_id}': {
      parameters: [pathParam('notification_id')],
      get: {
        summary: 'Show a notification (workflow details from 1.1)',
        responses: { 200: ok('Notification', wrap('notification', NotificationBody)), 404: fault('Not found'), ...common },
      },
    },
    '/v1/notifications/{notification_id}/retry': {
      parameters: [pathParam('notification_id')],
      post: {
        summary: 'Run a failed recovery again (Lazarus extension)',
        description:
          'For a `failed` or `error` notification: back to `new`, and published again; its message says what the retry will do. ' +
          'A host on maintenance only because this recovery put it there (a failed fence) is fenced again with its current control attributes, then evacuated. The body may be empty.',
        responses: {
          202: ok('Queued again', wrap('notification', NotificationBody)),
          404: fault('Not found'),
          409: fault('Not failed or error, its host is gone, on maintenance an operator set, or its segment disabled'),
          ...common,
        },
      },
    },
    '/v1/notifications/{notification_id}/events': {
      parameters: [pathParam('notification_id')],
      get: {
        summary: 'Follow a notification (Server-Sent Events, Lazarus extension)',
        description: '`event: notification` with `{notification, vmoves}` now and on every change; `event: end` once the status is final.',
        responses: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, 404: fault('Not found'), ...common },
      },
    },
    '/v1/notifications/{notification_id}/vmoves': {
      parameters: [pathParam('notification_id')],
      get: {
        summary: 'List instance moves of a host notification (1.3)',
        parameters: [query('status', 'Filter'), query('type', 'Filter'), ...paging],
        responses: { 200: ok('Vmoves', list('vmoves', VmoveBody)), 404: fault('Not found'), ...common },
      },
    },
    '/v1/alerts': {
      get: {
        summary: 'List alerts, newest first (Lazarus extension)',
        parameters: [query('segment_id', 'Filter: segment uuid'), query('kind', 'Filter: storm, isolated, unconfirmed, fence_failed, capacity, other'), ...paging],
        responses: { 200: ok('Alerts', list('alerts', AlertBody)), ...common },
      },
    },
    '/v1/ingest/alertmanager': {
      post: {
        summary: 'Take an Alertmanager webhook (payload version 4) (Lazarus extension)',
        description:
          'Each alert is mapped on its own (MAPPING_RULES): a firing node-down alert is a COMPUTE_HOST STOPPED notification, a resolved one STARTED. ' +
          'An alert already taken is a duplicate; one that does not map, or that the notification path refuses, is dead-lettered. 200 with one result per alert.',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } },
        responses: { 200: { description: 'One result per alert', content: { 'application/json': { schema: { type: 'object' } } } }, ...common },
      },
    },
    '/v1/ingest/dead-letters': {
      get: {
        summary: 'List what the ingest routes refused, newest first (Lazarus extension)',
        parameters: [query('source', 'Filter: alertmanager'), query('limit', '1–1000, default 100', 'integer')],
        responses: { 200: { description: 'Dead letters', content: { 'application/json': { schema: { type: 'object' } } } }, ...common },
      },
    },
    '/v1/notifications/{notification_id}/vmoves/{vmove_id}': {
      parameters: [pathParam('notification_id'), pathParam('vmove_id')],
      get: { summary: 'Show one instance move (1.3)', responses: { 200: ok('Vmove', wrap('vmove', VmoveBody)), 404: fault('Not found'), ...common } },
    },
  },
})
