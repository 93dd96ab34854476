import { maskControlAttributesSql as mask } from '@lazarus/contracts'
import type { Migration } from '@lazarus/db'

const HOST_ATTRS = `request #>> '{host,controlAttributes}'`
const OUTCOME_ATTRS = `outcome #>> '{payload,host,controlAttributes}'`

export const FENCER_MIGRATIONS: readonly Migration[] = [
  {
    id: '001-fence-operations',
    sql: `
CREATE TABLE fence_operations (
  notification_id text PRIMARY KEY,
  host text NOT NULL,
  level int NOT NULL CHECK (level IN (1, 2, 3)),
  state text NOT NULL CHECK (state IN ('started', 'powered_off', 'forced_down', 'fenced', 'failed')),
  -- The claim: who runs the operation, until when. A live owner renews the lease at every
  -- step; a lease that ran out may be taken over (the owner crashed or was partitioned).
  owner text NOT NULL,
  lease_until timestamptz NOT NULL,
  attempts int NOT NULL DEFAULT 1,
  request jsonb NOT NULL,
  timings jsonb NOT NULL DEFAULT '{}'::jsonb,
  outcome jsonb,
  reason text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
-- At most one unfinished fence per host, whichever notification or replica started it.
CREATE UNIQUE INDEX fence_operations_one_active_per_host ON fence_operations (host)
  WHERE state NOT IN ('fenced', 'failed');
CREATE INDEX fence_operations_host ON fence_operations (host, created_at);
`,
  },
  {
    id: '002-unfence-and-power-off-sent',
    sql: `
-- Unfence operations share the table, so that the one-unfinished-operation-per-host index
-- keeps a fence and an unfence of one host from running at the same time.
ALTER TABLE fence_operations ADD COLUMN kind text NOT NULL DEFAULT 'fence' CHECK (kind IN ('fence', 'unfence'));
ALTER TABLE fence_operations DROP CONSTRAINT IF EXISTS fence_operations_state_check;
-- power_off_sent: the BMC accepted the power off; a resumed fence confirms it, never sends a second one.
-- powered_on, unforced: the steps of an unfence; unfenced: its end.
ALTER TABLE fence_operations ADD CONSTRAINT fence_operations_state_check
  CHECK (state IN ('started', 'power_off_sent', 'powered_off', 'forced_down', 'fenced', 'powered_on', 'unforced', 'unfenced', 'failed'));
`,
  },
  {
    id: '003-unfenced-is-finished',
    sql: `
-- An unfence that reached its end holds the host no longer: without this, a host given back
-- once could never be fenced again (every later claim of it conflicted with the old row).
DROP INDEX fence_operations_one_active_per_host;
CREATE UNIQUE INDEX fence_operations_one_active_per_host ON fence_operations (host)
  WHERE state NOT IN ('fenced', 'unfenced', 'failed');
`,
  },
  {
    id: '004-scrub-inline-bmc-passwords',
    sql: `
-- BMC passwords are given by reference only (password_file=). Rows written before that rule
-- may hold a password in clear in the host snapshot of their request and outcome: mask it.
UPDATE fence_operations SET request = jsonb_set(request, '{host,controlAttributes}', to_jsonb(${mask(HOST_ATTRS)}))
  WHERE ${HOST_ATTRS} IS NOT NULL AND ${HOST_ATTRS} <> ${mask(HOST_ATTRS)};
UPDATE fence_operations SET outcome = jsonb_set(outcome, '{payload,host,controlAttributes}', to_jsonb(${mask(OUTCOME_ATTRS)}))
  WHERE ${OUTCOME_ATTRS} IS NOT NULL AND ${OUTCOME_ATTRS} <> ${mask(OUTCOME_ATTRS)};
UPDATE fence_operations SET reason = ${mask('reason')} WHERE reason IS NOT NULL AND reason <> ${mask('reason')};
`,
  },
  {
    id: '005-fencer-workers',
    kind: 'expand',
    sql: `
-- Fencer processes that say they are alive (adapters/db/fencer-workers.ts): a fence whose
-- owner is known dead may be taken over before its lease runs out. A claim names the
-- process that holds it (owner_worker); one without (written by an earlier build) is
-- trusted for its lease, as before.
CREATE TABLE fencer_workers (
  worker_id    text PRIMARY KEY,
  alive_until  timestamptz NOT NULL
);
ALTER TABLE fence_operations ADD COLUMN owner_worker text;
`,
  },
]
