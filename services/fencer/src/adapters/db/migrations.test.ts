import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { openTestDb } from '../../testing/databases.js'
import { FENCER_MIGRATIONS } from './migrations.js'

describe('migration 004: BMC passwords stored before the rule', () => {
  it('masks them in the requests, outcomes and reasons of fence_operations', async () => {
    const { db, close } = await openTestDb('pglite')
    try {
      const at = FENCER_MIGRATIONS.findIndex((m) => m.id === '004-scrub-inline-bmc-passwords')
      expect(at).toBeGreaterThan(0)
      await db.migrate('fencer', FENCER_MIGRATIONS.slice(0, at))
      const host = (attrs: string) => ({ id: randomUUID(), name: 'c1', type: 'COMPUTE', controlAttributes: attrs, reserved: false, onMaintenance: false })
      const rows = [
        ['a', 'driver=redfish address=https://bmc/x username=u password=hunter2', 'failed', 'host c1: control attribute "verify_tls" must be true or false, not "perhaps"'],
        ['b', "driver=ipmi address=bmc password='hunter2 b'", 'fenced', null],
        ['c', 'driver=redfish address=https://u:hunter2@bmc/x password_file=/etc/lazarus/bmc/c1', 'fenced', null],
        ['d', 'SSH', 'fenced', null],
      ] as const
      for (const [id, attrs, state, reason] of rows) {
        const request = { notificationId: id, reason: 'test', host: host(attrs), segment: { id: randomUUID() } }
        const outcome = { type: 'host.fenced.v1', payload: { notificationId: id, host: host(attrs) } }
        await db.query(
          `INSERT INTO fence_operations (notification_id, host, level, state, owner, lease_until, request, outcome, reason, created_at, updated_at)
           VALUES ($1, $1, 2, $2, 'o', now(), $3::jsonb, $4::jsonb, $5, now(), now())`,
          [id, state, JSON.stringify(request), JSON.stringify(outcome), reason],
        )
      }

      await db.migrate('fencer', FENCER_MIGRATIONS)

      const r = await db.query<{ id: string; req: string; out: string; reason: string | null; row: string }>(
        `SELECT notification_id AS id, request #>> '{host,controlAttributes}' AS req, outcome #>> '{payload,host,controlAttributes}' AS out, reason,
                x::text AS row FROM fence_operations x ORDER BY notification_id`,
      )
      expect(r.rows.map(({ id, req, out }) => ({ id, req, out }))).toEqual([
        { id: 'a', req: 'driver=redfish address=https://bmc/x username=u password=***', out: 'driver=redfish address=https://bmc/x username=u password=***' },
        { id: 'b', req: 'driver=ipmi address=bmc password=***', out: 'driver=ipmi address=bmc password=***' },
        {
          id: 'c',
          req: 'driver=redfish address=https://u:***@bmc/x password_file=/etc/lazarus/bmc/c1',
          out: 'driver=redfish address=https://u:***@bmc/x password_file=/etc/lazarus/bmc/c1',
        },
        { id: 'd', req: 'SSH', out: 'SSH' },
      ])
      // Nothing else of a row changed; the password is nowhere in any of them.
      expect(r.rows.filter((x) => x.row.includes('hunter2')).map((x) => x.id)).toEqual([])
      expect(r.rows[0]?.reason).toBe('host c1: control attribute "verify_tls" must be true or false, not "perhaps"')
    } finally {
      await close()
    }
  })
})
