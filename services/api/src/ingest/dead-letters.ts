import type { Db, Migration } from '@lazarus/db'

/**
 * Dead letters of the api's ingest routes, and the Alertmanager alerts already taken
 * (fingerprint + startsAt + status). Tables of their own, migrated on first use under
 * the service name `api-ingest`.
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
]

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
export const createDbIngestStore = (db: Db): IngestStore => {
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
      await db.query(
        'INSERT INTO api_ingest_dead_letters (source, stage, reason, fingerprint, body, received_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6)',
        [d.source, d.stage, d.reason, d.fingerprint, JSON.stringify(d.body ?? null), d.receivedAt],
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
    },
  }
}
