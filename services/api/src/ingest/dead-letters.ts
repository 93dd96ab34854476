import type { Db, Migration } from '@lazarus/db'

/**
 * Dead letters of the api's ingest routes, and the Alertmanager alerts already taken
 * (fingerprint + startsAt + status). Tables of their own, migrated on first use under
 * the service name `api-ingest`. Both are bounded (see `IngestRetention`): whoever can post
 * alerts could otherwise fill the database.
 */
export const ingestMigrations: readonly Migration[] = [
  {
    id: 'ingest-001-dead-letters-and-alerts',
    sql: `
CREATE TABLE api_ingest_dead_letters (
  id serial PRIMARY KEY,
  source text NOT NULL,
  stage text NOT NULL,
  reason text NOT NULL,
  fingerprint text,
  body jsonb NOT NULL,
  received_at timestamptz NOT NULL
);
CREATE INDEX api_ingest_dead_letters_received ON api_ingest_dead_letters (received_at);
CREATE TABLE api_ingest_alerts (
  fingerprint text NOT NULL,
  starts_at text NOT NULL,
  status text NOT NULL,
  notification_uuid uuid,
  received_at timestamptz NOT NULL,
  PRIMARY KEY (fingerprint, starts_at, status)
);
`,
  },
  {
    id: 'ingest-002-retention',
    sql: `
-- Alerts already taken are forgotten by age (dead letters by age and by count, through their id).
CREATE INDEX api_ingest_alerts_received ON api_ingest_alerts (received_at);
`,
  },
]

/** How much the ingest routes keep. */
export interface IngestRetention {
  /** Dead letters kept at most: past it, the oldest go first. */
  deadLetterMaxCount: number
  /**
   * Seconds a dead letter, or the record of an alert already taken, is kept. An alert sent
   * again after its record is gone maps to the same notification, which the accept path
   * then finds a duplicate.
   */
  maxAgeS: number
}

export const DEFAULT_INGEST_RETENTION: IngestRetention = { deadLetterMaxCount: 10_000, maxAgeS: 7 * 24 * 3600 }

export interface DeadLetter {
  id: number
  source: string
  stage: string
  reason: string
  fingerprint: string | null
  body: unknown
  receivedAt: Date
}

export interface AlertKey {
  fingerprint: string
  startsAt: string
  status: string
}

export interface IngestStore {
  addDeadLetter(d: Omit<DeadLetter, 'id'>): Promise<void>
  listDeadLetters(opts: { source?: string | undefined; limit: number }): Promise<DeadLetter[]>
  /** The notification an alert occurrence already became (null: taken, no notification), or undefined when new. */
  seenAlert(key: AlertKey): Promise<string | null | undefined>
  rememberAlert(key: AlertKey, notificationUuid: string | null, at: Date): Promise<void>
}

/** In PostgreSQL (or PGlite) through the api's database. */
export const createDbIngestStore = (db: Db, retention: IngestRetention = DEFAULT_INGEST_RETENTION): IngestStore => {
  const oldestKept = (at: Date) => new Date(at.getTime() - retention.maxAgeS * 1000)
  let migrated: Promise<void> | undefined
  const ready = () => {
    migrated ??= db.migrate('api-ingest', ingestMigrations).catch((err: unknown) => {
      migrated = undefined
      throw err
    })
    return migrated
  }
  return {
    async addDeadLetter(d) {
      await ready()
      await db.query('INSERT INTO api_ingest_dead_letters (source, stage, reason, fingerprint, body, received_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6)', [
        d.source,
        d.stage,
        d.reason,
        d.fingerprint,
        JSON.stringify(d.body ?? null),
        d.receivedAt,
      ])
      // Each insert trims: too old, or beyond the newest deadLetterMaxCount (ids grow with time).
      await db.query(
        `DELETE FROM api_ingest_dead_letters WHERE received_at < $1
           OR id <= (SELECT id FROM api_ingest_dead_letters ORDER BY id DESC OFFSET $2 LIMIT 1)`,
        [oldestKept(d.receivedAt), retention.deadLetterMaxCount],
      )
    },
    async listDeadLetters({ source, limit }) {
      await ready()
      const r = await db.query<Record<string, unknown>>(
        `SELECT id, source, stage, reason, fingerprint, body, received_at FROM api_ingest_dead_letters
         WHERE ($1::text IS NULL OR source = $1) ORDER BY id DESC LIMIT $2`,
        [source ?? null, limit],
      )
      return r.rows.map((row) => ({
        id: Number(row['id']),
        source: String(row['source']),
        stage: String(row['stage']),
        reason: String(row['reason']),
        fingerprint: (row['fingerprint'] as string | null) ?? null,
        body: typeof row['body'] === 'string' ? (JSON.parse(row['body']) as unknown) : row['body'],
        receivedAt: new Date(row['received_at'] as string | Date),
      }))
    },
    async seenAlert(key) {
      await ready()
      const r = await db.query<{ notification_uuid: string | null }>(
        'SELECT notification_uuid::text AS notification_uuid FROM api_ingest_alerts WHERE fingerprint = $1 AND starts_at = $2 AND status = $3',
        [key.fingerprint, key.startsAt, key.status],
      )
      return r.rows[0] ? r.rows[0].notification_uuid : undefined
    },
    async rememberAlert(key, notificationUuid, at) {
      await ready()
      await db.query(
        `INSERT INTO api_ingest_alerts (fingerprint, starts_at, status, notification_uuid, received_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (fingerprint, starts_at, status) DO NOTHING`,
        [key.fingerprint, key.startsAt, key.status, notificationUuid, at],
      )
      await db.query('DELETE FROM api_ingest_alerts WHERE received_at < $1', [oldestKept(at)])
    },
  }
}
