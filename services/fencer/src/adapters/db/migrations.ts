import type { Migration } from '@lazarus/db'

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
]
