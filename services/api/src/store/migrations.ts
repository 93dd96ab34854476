import type { Migration } from '@lazarus/db'
import { maskControlAttributesSql } from '@lazarus/contracts'

/**
 * The columns of `api_host_view` as migration 003 created it (004 adds `version` after them).
 * Part of applied migrations: never change it; a new column goes in a new migration.
 */
const HOST_VIEW_COLUMNS = `SELECT h.id, h.uuid::text AS uuid, h.name, h.type, h.control_attributes, h.reserved, h.on_maintenance,
  h.maintenance_notification_uuid::text AS maintenance_notification_uuid, h.fence_state, h.created_at, h.updated_at,
  s.id AS s_id, s.uuid::text AS s_uuid, s.name AS s_name, s.description AS s_description, s.recovery_method AS s_recovery_method,
  s.service_type AS s_service_type, s.enabled AS s_enabled, s.quick_evacuate_level AS s_quick_evacuate_level,
  s.paused AS s_paused, s.paused_reason AS s_paused_reason, s.paused_at AS s_paused_at,
  s.created_at AS s_created_at, s.updated_at AS s_updated_at,
  (SELECT coalesce(array_agg(r.name ORDER BY r.name), '{}') FROM api_hosts r WHERE r.segment_id = s.id AND r.reserved AND NOT r.on_maintenance) AS s_reserved_hosts`

/** The api's tables; plain PostgreSQL that PGlite runs too. Every name starts with `api_`. */
/**
 * The body of api_accept_notifications (from RETURNS to the end of its definition), as
 * migrations 004 and 005 create it: they differ only in the duplicate rule's time condition
 * (`duplicateTime`, one line of the duplicate lookup's WHERE, `d` the stored report, `c` the
 * new one).
 */
const acceptFunctionBody = (duplicateTime: string): string => `RETURNS TABLE (r_idx integer, r_outcome text, r_data jsonb)
LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
  IF cardinality(published) > 0 THEN
    -- Planned on each call (EXECUTE): a plan cached while the outbox was small would scan the
    -- whole table, dead rows included, on every call once it has grown.
    EXECUTE 'DELETE FROM api_outbox WHERE id IN (SELECT o.id FROM api_outbox o WHERE o.event_id = ANY($1) FOR UPDATE SKIP LOCKED)'
      USING published;
  END IF;
  IF jsonb_array_length(items) = 0 THEN
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(l.key) FROM (
    SELECT DISTINCT hashtext('api-notification:' || (e ->> 'hostname')) AS key FROM jsonb_array_elements(items) e ORDER BY 1
  ) l;
  RETURN QUERY
  WITH it AS (
    SELECT * FROM jsonb_to_recordset(items) AS x(idx integer, uuid uuid, hostname text, version text, reserved text[],
      generated_time timestamptz, since timestamptz, type text, payload jsonb, status text, message text, held boolean,
      event_id uuid, event jsonb)
  ), cur AS (
    -- Each item's host by its name: an index probe per item, not a scan of every host (OFFSET 0
    -- keeps the planner from turning the lookup into a join over the whole table).
    SELECT it.*, h.h_uuid, h.s_id, h.s_uuid, h.cur_version,
      row_number() OVER (PARTITION BY it.hostname, it.type, it.payload ORDER BY it.idx) AS nth
    FROM it LEFT JOIN LATERAL (
      SELECT h.uuid AS h_uuid, s.id AS s_id, s.uuid AS s_uuid, h.version || '.' || s.version AS cur_version
      FROM api_hosts h JOIN api_segments s ON s.id = h.segment_id WHERE h.name = it.hostname
      OFFSET 0
    ) h ON true
  ), seg_reserved AS (
    SELECT d.s_id, (SELECT coalesce(array_agg(r.name ORDER BY r.name), '{}') FROM api_hosts r
      WHERE r.segment_id = d.s_id AND r.reserved AND NOT r.on_maintenance) AS names
    FROM (SELECT DISTINCT c.s_id FROM cur c WHERE c.s_id IS NOT NULL) d
  ), judged AS (
    SELECT c.*, CASE
      WHEN c.h_uuid IS NULL THEN 'unknown_host'
      WHEN c.cur_version IS DISTINCT FROM c.version OR sr.names IS DISTINCT FROM c.reserved THEN 'stale'
      WHEN c.nth > 1 THEN 'later'
      WHEN EXISTS (
        SELECT 1 FROM api_notifications d
        WHERE d.source_host_uuid = c.h_uuid AND d.type = c.type AND md5(d.payload::text) = md5(c.payload::text)
          ${duplicateTime}
      ) THEN 'duplicate'
      ELSE 'stored' END AS outcome
    FROM cur c LEFT JOIN seg_reserved sr ON sr.s_id = c.s_id
  ), ins AS (
    INSERT INTO api_notifications (notification_uuid, generated_time, source_host_uuid, hostname, type, payload, status,
      failover_segment_uuid, message, held, created_at)
    SELECT j.uuid, j.generated_time, j.h_uuid, j.hostname, j.type, j.payload, j.status, j.s_uuid, j.message, j.held, created
    FROM judged j WHERE j.outcome = 'stored' ORDER BY j.idx
    RETURNING notification_uuid, id
  ), outbox AS (
    INSERT INTO api_outbox (event_id, type, body, created_at, available_at)
    SELECT j.event_id, 'notification.received.v1', j.event, created, available
    FROM judged j WHERE j.outcome = 'stored' AND j.event_id IS NOT NULL ORDER BY j.idx
  )
  SELECT j.idx, j.outcome, CASE
      WHEN j.outcome = 'stored' THEN jsonb_build_object('id', i.id)
      WHEN j.outcome = 'stale' THEN (SELECT jsonb_build_object('host', to_jsonb(v), 'version', v.version) FROM api_host_view v WHERE v.name = j.hostname)
    END
  FROM judged j LEFT JOIN ins i ON i.notification_uuid = j.uuid
  ORDER BY j.idx;
END
$fn$;`

export const migrations: readonly Migration[] = [
  {
    id: '001-segments-hosts-notifications',
    sql: `
CREATE TABLE api_segments (
  id serial PRIMARY KEY,
  uuid uuid NOT NULL UNIQUE,
  name text NOT NULL UNIQUE,
  description text,
  recovery_method text NOT NULL,
  service_type text NOT NULL,
  enabled boolean NOT NULL DEFAULT true,
  quick_evacuate_level smallint NOT NULL DEFAULT 2,
  created_at timestamptz NOT NULL,
  updated_at timestamptz
);
CREATE TABLE api_hosts (
  id serial PRIMARY KEY,
  uuid uuid NOT NULL UNIQUE,
  name text NOT NULL UNIQUE,
  segment_id integer NOT NULL REFERENCES api_segments(id) ON DELETE CASCADE,
  type text,
  control_attributes text,
  reserved boolean NOT NULL DEFAULT false,
  on_maintenance boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL,
  updated_at timestamptz
);
CREATE INDEX api_hosts_segment ON api_hosts (segment_id);
CREATE TABLE api_notifications (
  id serial PRIMARY KEY,
  notification_uuid uuid NOT NULL UNIQUE,
  generated_time timestamptz NOT NULL,
  source_host_uuid uuid NOT NULL,
  hostname text NOT NULL,
  type text NOT NULL,
  payload jsonb NOT NULL,
  status text NOT NULL,
  failover_segment_uuid uuid NOT NULL,
  message text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz
);
CREATE INDEX api_notifications_dup ON api_notifications (source_host_uuid, type, generated_time);
CREATE INDEX api_notifications_segment_status ON api_notifications (failover_segment_uuid, status);
CREATE INDEX api_notifications_created ON api_notifications (created_at);
CREATE TABLE api_progress (
  seq serial,
  event_id uuid PRIMARY KEY,
  notification_uuid uuid NOT NULL,
  task text NOT NULL,
  state text NOT NULL,
  progress double precision NOT NULL,
  message text NOT NULL,
  occurred_at timestamptz NOT NULL
);
CREATE INDEX api_progress_notification ON api_progress (notification_uuid, occurred_at);
CREATE TABLE api_vmoves (
  id serial PRIMARY KEY,
  uuid uuid NOT NULL UNIQUE,
  notification_uuid uuid NOT NULL,
  instance_uuid text NOT NULL,
  instance_name text NOT NULL,
  source_host text,
  dest_host text,
  start_time timestamptz,
  end_time timestamptz,
  type text NOT NULL,
  status text NOT NULL,
  message text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz,
  UNIQUE (notification_uuid, instance_uuid)
);
CREATE TABLE api_outbox (
  id serial PRIMARY KEY,
  event_id uuid NOT NULL UNIQUE,
  type text NOT NULL,
  body jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  available_at timestamptz NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  last_error text
);
CREATE INDEX api_outbox_available ON api_outbox (available_at, id);
`,
  },
  {
    id: '002-pause-alerts-unfence',
    sql: `
ALTER TABLE api_segments ADD COLUMN paused boolean NOT NULL DEFAULT false, ADD COLUMN paused_reason text, ADD COLUMN paused_at timestamptz;
ALTER TABLE api_hosts ADD COLUMN maintenance_notification_uuid uuid, ADD COLUMN fence_state text;
ALTER TABLE api_notifications ADD COLUMN held boolean NOT NULL DEFAULT false;
CREATE INDEX api_notifications_held ON api_notifications (failover_segment_uuid) WHERE held;
CREATE TABLE api_alerts (
  id serial PRIMARY KEY,
  uuid uuid NOT NULL UNIQUE,
  kind text NOT NULL,
  severity text NOT NULL,
  segment_uuid uuid,
  host text,
  notification_uuid uuid,
  message text NOT NULL,
  source text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX api_alerts_created ON api_alerts (created_at, id);
CREATE INDEX api_alerts_segment ON api_alerts (segment_uuid, kind);
`,
  },
  {
    id: '003-notification-accept',
    sql: `
-- Duplicate detection looks a notification up by host, type and payload: with the payload's
-- hash in the index, a host with many recent notifications costs one probe, not a scan.
CREATE INDEX api_notifications_dup_payload ON api_notifications (source_host_uuid, type, md5(payload::text), generated_time);
DROP INDEX api_notifications_dup;
-- The reserved hosts every notification's event carries, without reading the whole segment.
CREATE INDEX api_hosts_reserved ON api_hosts (segment_id, name) WHERE reserved AND NOT on_maintenance;

-- A host as the accept path sees it: its row, its segment's and the segment's reserved hosts.
-- md5 of its jsonb text is the version an api replica checks its cached copy against.
CREATE VIEW api_host_view AS
${HOST_VIEW_COLUMNS}
FROM api_hosts h JOIN api_segments s ON s.id = h.segment_id;

-- Accept a batch of notifications in one call (one round trip, one commit). Each item was
-- prepared by the api from its copy of the host (status, message, event) and carries that
-- copy's version. Under a per-host lock taken in a fixed order, each item is answered:
-- stored (with its row), duplicate (same host, type and payload since 'since'; earlier items
-- of the batch count), unknown_host, or stale (the host changed: its current row and version
-- come back, and the api prepares the item again).
CREATE FUNCTION api_accept_notifications(items jsonb, created timestamptz, available timestamptz)
RETURNS TABLE (r_idx integer, r_outcome text, r_data jsonb)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  it record;
  cur jsonb;
  cur_version text;
  seen jsonb := '{}';
  stored jsonb;
BEGIN
  PERFORM pg_advisory_xact_lock(l.key) FROM (
    SELECT DISTINCT hashtext('api-notification:' || (e ->> 'hostname')) AS key FROM jsonb_array_elements(items) e ORDER BY 1
  ) l;
  FOR it IN
    SELECT * FROM jsonb_to_recordset(items) AS x(idx integer, uuid uuid, hostname text, version text, generated_time timestamptz,
      since timestamptz, type text, payload jsonb, status text, message text, held boolean, event_id uuid, event jsonb)
    ORDER BY x.idx
  LOOP
    r_idx := it.idx;
    r_data := NULL;
    -- Each host is read once per batch (it cannot change while its lock is held).
    IF seen ? it.hostname THEN
      cur := seen -> it.hostname -> 'host';
      cur_version := seen -> it.hostname ->> 'version';
    ELSE
      SELECT to_jsonb(v) INTO cur FROM api_host_view v WHERE v.name = it.hostname;
      cur_version := md5(cur::text);
      seen := seen || jsonb_build_object(it.hostname, jsonb_build_object('host', cur, 'version', cur_version));
    END IF;
    IF cur IS NULL OR cur = 'null'::jsonb THEN
      r_outcome := 'unknown_host';
    ELSIF cur_version IS DISTINCT FROM it.version THEN
      r_outcome := 'stale';
      r_data := jsonb_build_object('host', cur, 'version', cur_version);
    ELSIF EXISTS (
      SELECT 1 FROM api_notifications d
      WHERE d.source_host_uuid = (cur ->> 'uuid')::uuid AND d.type = it.type AND md5(d.payload::text) = md5(it.payload::text)
        AND d.generated_time >= it.since AND d.payload = it.payload
    ) THEN
      r_outcome := 'duplicate';
    ELSE
      INSERT INTO api_notifications (notification_uuid, generated_time, source_host_uuid, hostname, type, payload, status,
        failover_segment_uuid, message, held, created_at)
      VALUES (it.uuid, it.generated_time, (cur ->> 'uuid')::uuid, it.hostname, it.type, it.payload, it.status,
        (cur ->> 's_uuid')::uuid, it.message, it.held, created)
      RETURNING to_jsonb(api_notifications) INTO stored;
      IF it.event_id IS NOT NULL THEN
        INSERT INTO api_outbox (event_id, type, body, created_at, available_at)
        VALUES (it.event_id, 'notification.received.v1', it.event, created, available);
      END IF;
      r_outcome := 'stored';
      r_data := stored;
    END IF;
    RETURN NEXT;
  END LOOP;
END
$fn$;
`,
  },
  {
    id: '004-accept-set-based',
    sql: `
-- Row versions instead of a hash of the host's whole view: every insert or update of a host or
-- segment takes a fresh number from one sequence, so a version is never reused, not even by a
-- host deleted and registered again under its name.
CREATE SEQUENCE api_row_version;
ALTER TABLE api_segments ADD COLUMN version bigint NOT NULL DEFAULT nextval('api_row_version');
ALTER TABLE api_hosts ADD COLUMN version bigint NOT NULL DEFAULT nextval('api_row_version');
CREATE FUNCTION api_next_row_version() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  NEW.version := nextval('api_row_version');
  RETURN NEW;
END
$fn$;
CREATE TRIGGER api_segments_version BEFORE UPDATE ON api_segments FOR EACH ROW EXECUTE FUNCTION api_next_row_version();
CREATE TRIGGER api_hosts_version BEFORE UPDATE ON api_hosts FOR EACH ROW EXECUTE FUNCTION api_next_row_version();

-- A cached copy's version: the host's and its segment's row versions. The segment's reserved
-- hosts are checked apart (another host's change alters them).
CREATE OR REPLACE VIEW api_host_view AS
${HOST_VIEW_COLUMNS},
  h.version || '.' || s.version AS version
FROM api_hosts h JOIN api_segments s ON s.id = h.segment_id;

-- The same answers as before (stored, duplicate, unknown_host, stale), from one statement for
-- the whole batch instead of a loop of statements per item. The per-host locks come first, in
-- their own statement, so that the batch's statement sees whatever their holders committed.
-- An item with the same host, type and payload as an earlier item of the batch is answered
-- 'later': the caller sends it again once the earlier one is settled. A stored item answers
-- with its row id alone (the caller has the rest); a stale one with the host's current copy.
-- 'published': outbox rows whose events the bus has confirmed meanwhile, deleted in the same
-- transaction rather than in one of their own. A row a sweep holds is left to that sweep
-- (which publishes it again and deletes it): the accept never waits for one.
DROP FUNCTION api_accept_notifications(jsonb, timestamptz, timestamptz);
CREATE FUNCTION api_accept_notifications(items jsonb, created timestamptz, available timestamptz, published uuid[])
${acceptFunctionBody(`AND d.generated_time >= c.since AND d.payload = c.payload`)}
`,
  },
  {
    id: '005-two-sided-duplicate-window',
    sql: `
-- The duplicate window is two-sided: a stored report matches a new one only when its
-- generated_time lies within the detection interval of the new one's, before or after
-- ('since' is the new time minus the interval, so the upper end is the new time plus it).
-- Before, anything stored at or after 'since' matched: one report dated far in the future
-- (the api now refuses those, but rows from before remain) was the "same report" as every
-- real one after it, and kept them out as duplicates for as long as its date lay ahead.
-- Everything else is as in 004.
CREATE OR REPLACE FUNCTION api_accept_notifications(items jsonb, created timestamptz, available timestamptz, published uuid[])
${acceptFunctionBody(`AND d.generated_time BETWEEN c.since AND c.generated_time + (c.generated_time - c.since)
          AND d.payload = c.payload`)}
`,
  },
  {
    id: '006-scrub-inline-bmc-passwords',
    sql: `
-- BMC passwords are given by reference only (password_file=): the api refuses a password in
-- control_attributes. Hosts registered before that rule, and events still waiting in the
-- outbox, may hold one in clear: mask it (the fencer then says what to set instead).
UPDATE api_hosts SET control_attributes = ${maskControlAttributesSql('control_attributes')}
  WHERE control_attributes <> ${maskControlAttributesSql('control_attributes')};
UPDATE api_outbox SET body = jsonb_set(body, '{payload,host,controlAttributes}', to_jsonb(${maskControlAttributesSql(`body #>> '{payload,host,controlAttributes}'`)}))
  WHERE body #>> '{payload,host,controlAttributes}' <> ${maskControlAttributesSql(`body #>> '{payload,host,controlAttributes}'`)};
`,
  },
  {
    id: '007-outbox-trace-context',
    sql: `
-- The W3C trace context of the request that wrote an outbox row, so the event it becomes
-- continues that request's trace even when the sweep publishes it later (NULL: no trace).
ALTER TABLE api_outbox ADD COLUMN traceparent text, ADD COLUMN tracestate text;
`,
  },
  {
    id: '008-alert-lifetime-and-webhook-deliveries',
    sql: `
-- Alerts clear (expand only: new nullable columns, older replicas go on writing rows without them).
ALTER TABLE api_alerts ADD COLUMN cleared_at timestamptz, ADD COLUMN cleared_reason text;
-- Alerts stored before alerts could clear would stay active for ever (nothing clears them now):
-- they are kept, shown as cleared by this upgrade.
UPDATE api_alerts SET cleared_at = now(), cleared_reason = 'stored before alerts could clear (upgrade)' WHERE cleared_at IS NULL;
CREATE INDEX api_alerts_active ON api_alerts (host, kind) WHERE cleared_at IS NULL;

-- Pushes to operator endpoints (WEBHOOK_URLS), written in the transaction of what they tell,
-- delivered at least once by any replica: one row per push and endpoint. A replica takes a
-- row by setting locked_until (SKIP LOCKED), so two replicas do not send it at once; a row
-- whose taker died is taken again once locked_until has passed. 'after_key': a push that
-- must wait for another one to the same endpoint (a clear waits for its raise).
CREATE TABLE api_webhook_deliveries (
  id bigserial PRIMARY KEY,
  push_key text NOT NULL,
  url text NOT NULL,
  push_type text NOT NULL,
  body text NOT NULL,
  after_key text,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  locked_until timestamptz,
  last_error text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  UNIQUE (push_key, url)
);
CREATE INDEX api_webhook_deliveries_due ON api_webhook_deliveries (next_attempt_at) WHERE state = 'pending';
`,
  },
  {
    id: '009-storm-guard',
    sql: `
-- The storm guard of the accept path (domain/storm-guard.ts): each segment's thresholds
-- (NULL: the default), and the ledger of host failures admitted, which the guard reads under
-- the segment's row lock to count the hosts failing within the window.
ALTER TABLE api_segments ADD COLUMN storm_max_failures integer, ADD COLUMN storm_max_failed_fraction double precision,
  ADD COLUMN storm_window_s integer;
CREATE TABLE api_storm_ledger (
  id bigserial PRIMARY KEY,
  segment_id integer NOT NULL REFERENCES api_segments(id) ON DELETE CASCADE,
  host_name text NOT NULL,
  notification_uuid uuid NOT NULL,
  admitted_at timestamptz NOT NULL
);
CREATE INDEX api_storm_ledger_segment ON api_storm_ledger (segment_id, admitted_at);
`,
  },
  {
    id: '010-capacity-policy',
    sql: `
-- Each segment's capacity policy (domain/capacity.ts): what putting a host on maintenance or
-- deleting it does when the segment would then tolerate fewer host failures than its target.
-- NULL: off, and a target of 1.
ALTER TABLE api_segments ADD COLUMN capacity_policy text CHECK (capacity_policy IN ('off', 'warn', 'alert', 'refuse')),
  ADD COLUMN capacity_target integer CHECK (capacity_target BETWEEN 1 AND 100);
`,
  },
]
