import { createHostStore } from '../store/hosts.js'
import { migrations } from '../store/migrations.js'
import { createNotificationStore } from '../store/notifications.js'
import { createSegmentStore } from '../store/segments.js'
import { openTestDb, type Engine } from './harness.js'

const now = () => new Date()

/**
 * Two api replicas, `a` and `b`, over one migrated database of the engine: each has its own
 * stores (and its own host cache).
 */
export const openReplicaStores = async (engine: Engine) => {
  const { db, drop } = await openTestDb(engine)
  await db.migrate('api', migrations)
  const replica = () => {
    const segments = createSegmentStore(db, now)
    const hosts = createHostStore(db, segments, now)
    return { segments, hosts, notifications: createNotificationStore(db, hosts, now, 2000) }
  }
  return { db, drop, a: replica(), b: replica() }
}
