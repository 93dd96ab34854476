import type { Migration } from '@lazarus/db'

/** The api's tables; plain PostgreSQL that PGlite runs too. Every name starts with `api_`. */
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
]
