import type { Migration } from '@lazarus/db'

/** The evacuator's own tables: one row per host recovery, one per instance to move. */
export const EVACUATOR_MIGRATIONS: readonly Migration[] = [
  {
    id: '001-recoveries-and-items',
    sql: `
CREATE TABLE evacuator_recoveries (
  notification_id  uuid PRIMARY KEY,
  correlation_id   text NOT NULL,
  source_host      text NOT NULL,
  segment_id       uuid NOT NULL,
  recovery_method  text NOT NULL,
  -- evacuating | finished | failed | ignored
  status           text NOT NULL,
  total            integer NOT NULL,
  -- every work item has been published once
  work_published   boolean NOT NULL DEFAULT false,
  message          text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz,
  -- recovery.finished.v1 has been published
  finish_announced boolean NOT NULL DEFAULT false
);
CREATE TABLE evacuator_items (
  notification_id  uuid NOT NULL REFERENCES evacuator_recoveries (notification_id) ON DELETE CASCADE,
  instance_id      text NOT NULL,
  instance_name    text NOT NULL,
  position         integer NOT NULL,
  ha_enabled       boolean NOT NULL,
  source_host      text NOT NULL,
  target_host      text,
  -- pending | running | succeeded | failed
  status           text NOT NULL DEFAULT 'pending',
  -- new | prepared | evacuate_sent | moved: the last step persisted before acting on it
  step             text NOT NULL DEFAULT 'new',
  plan             jsonb,
  evacuate_sent_at timestamptz,
  dest_host        text,
  reason           text,
  claim_owner      text,
  claim_expires_at timestamptz,
  attempts         integer NOT NULL DEFAULT 0,
  requested_at     timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  ended_at         timestamptz,
  -- instance.evacuated / instance.evacuation_failed has been published
  announced        boolean NOT NULL DEFAULT false,
  PRIMARY KEY (notification_id, instance_id)
);
CREATE INDEX evacuator_items_open ON evacuator_items (requested_at) WHERE status IN ('pending', 'running');
CREATE INDEX evacuator_items_unannounced ON evacuator_items (notification_id) WHERE announced = false AND status IN ('succeeded', 'failed');
`,
  },
  {
    id: '002-rounds-reserved-hosts-retries-simple-recoveries',
    sql: `
-- A recovery runs in rounds (scheduler, or one reserved host), each taking the instances
-- the rounds before it did not move; a failed recovery waits and runs again.
ALTER TABLE evacuator_recoveries
  ADD COLUMN stage            integer NOT NULL DEFAULT 0,
  ADD COLUMN stage_kind       text NOT NULL DEFAULT 'scheduler',
  ADD COLUMN target_host      text,
  ADD COLUMN reserved_hosts   jsonb NOT NULL DEFAULT '[]',
  ADD COLUMN tried_reserved   jsonb NOT NULL DEFAULT '[]',
  ADD COLUMN retries          integer NOT NULL DEFAULT 0,
  ADD COLUMN retry_at         timestamptz,
  ADD COLUMN stage_started_at timestamptz;
-- items: 'waiting' (not yet given a round) joins pending | running | succeeded | failed
ALTER TABLE evacuator_items ADD COLUMN stage integer NOT NULL DEFAULT 0;
-- One row per reserved host in use: the primary key makes a claim exclusive.
CREATE TABLE evacuator_reserved_claims (
  host            text PRIMARY KEY,
  segment_id      uuid NOT NULL,
  notification_id uuid NOT NULL,
  claimed_at      timestamptz NOT NULL DEFAULT now()
);
-- Instance and process failures: one row each, claimed while a worker acts on it.
CREATE TABLE evacuator_simple_recoveries (
  notification_id  uuid PRIMARY KEY,
  kind             text NOT NULL,
  correlation_id   text NOT NULL,
  host             text NOT NULL,
  subject          text NOT NULL,
  -- running | finished | failed | ignored
  status           text NOT NULL DEFAULT 'running',
  -- the last task done
  step             text NOT NULL DEFAULT 'new',
  message          text,
  claim_owner      text,
  claim_expires_at timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz,
  finish_announced boolean NOT NULL DEFAULT false
);
`,
  },
  {
    id: '003-items-listed',
    sql: `
-- The server as the host listing showed it when the recovery was recorded: a fresh item is
-- planned from it (no read of the server before the lock), a resumed one reads Nova again.
ALTER TABLE evacuator_items ADD COLUMN listed jsonb, ADD COLUMN listed_at timestamptz;
`,
  },
  {
    id: '004-instance-restarts',
    sql: `
-- The restart-loop limit (domain/restart-limit.ts): one row per instance failure decided on,
-- admitted (restarted) or not, so that every replica and a restarted process count the same
-- recoveries of an instance, and a redelivered notification keeps its decision.
CREATE TABLE evacuator_instance_restarts (
  notification_id uuid PRIMARY KEY,
  instance_id     text NOT NULL,
  admitted        boolean NOT NULL,
  message         text,
  decided_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX evacuator_instance_restarts_by_instance ON evacuator_instance_restarts (instance_id, decided_at);
`,
  },
  {
    id: '005-workers',
    kind: 'expand',
    sql: `
-- Evacuator processes that say they are alive (store/workers.ts): a claim whose owner stopped
-- saying so is free before its lease runs out.
CREATE TABLE evacuator_workers (
  worker_id    text PRIMARY KEY,
  alive_until  timestamptz NOT NULL
);
`,
  },
  {
    id: '006-restart-waves-planned-targets',
    kind: 'expand',
    sql: `
-- Restart order (domain/restart-waves.ts): each item's restart priority, group and wave; a
-- recovery's restart groups, the highest wave released in its round and when. Rows written
-- before this stay one wave (0) of priority 3: the order they had.
ALTER TABLE evacuator_items
  ADD COLUMN priority      smallint NOT NULL DEFAULT 3,
  ADD COLUMN restart_group text,
  ADD COLUMN wave          integer NOT NULL DEFAULT 0,
  -- The planner's target for the round (EVACUATION_TARGETS=planner), kept after a fallback.
  ADD COLUMN planned_host  text;
ALTER TABLE evacuator_recoveries
  ADD COLUMN restart_groups  jsonb NOT NULL DEFAULT '[]',
  ADD COLUMN wave            integer NOT NULL DEFAULT 0,
  ADD COLUMN last_wave       integer NOT NULL DEFAULT 0,
  ADD COLUMN wave_started_at timestamptz,
  -- The segment's hosts when the event named them (the hosts a planned round places on), else NULL.
  ADD COLUMN segment_hosts   jsonb;
`,
  },
  {
    id: '007-prefetched-listings',
    kind: 'expand',
    sql: `
-- The failed host's instances listed while it is being fenced (store/prefetched-listings.ts):
-- the replica that handles host.fenced takes them from here instead of listing again, when
-- the listing started recently enough (domain/prefetched-listing.ts). Kept an hour at most.
CREATE TABLE evacuator_prefetched_listings (
  notification_id uuid PRIMARY KEY,
  host            text NOT NULL,
  -- when the listing request was sent
  started_at      timestamptz NOT NULL,
  servers         jsonb NOT NULL,
  -- the metadata of the host's aggregates; NULL when they could not be read
  aggregates      jsonb
);
CREATE INDEX evacuator_prefetched_listings_started ON evacuator_prefetched_listings (started_at);
`,
  },
]
