import { readFileSync } from 'node:fs'
import { createConnection, type RowDataPacket } from 'mysql2/promise'
import type { ServerLook } from './box.js'

/**
 * Nova's cell database, read directly by a benchmark watching servers on a box that runs on
 * this machine. Watching through nova-api means a list of every server per look, back to
 * back, at the same few API workers the contender's own calls wait for: the watcher then slows
 * whichever contender it overlaps. Read here, a look costs nova-api nothing; nova-api itself
 * reads the same rows to answer (the server's status is ACTIVE when its vm_state is `active`
 * and no task runs on it), so both see a server ACTIVE at the same moment.
 */

/** Nova's configuration on the box's machine (infra/openstack-box/up.sh writes it). */
export const NOVA_CONF = '/etc/nova/nova.conf'

/**
 * The `[database] connection` of nova.conf as a mysql2 connection URL; undefined when the file
 * is absent or names no MySQL database (then the watcher lists through nova-api).
 */
export const novaDbUrl = (conf: string = NOVA_CONF): string | undefined => {
  let text: string
  try {
    text = readFileSync(conf, 'utf8')
  } catch {
    return undefined
  }
  let section = ''
  for (const line of text.split('\n')) {
    const header = /^\s*\[([^\]]+)\]/.exec(line)
    if (header) {
      section = header[1]!.trim()
      continue
    }
    const setting = /^\s*connection\s*=\s*(\S+)/.exec(line)
    if (section !== 'database' || !setting) continue
    let url: URL
    try {
      url = new URL(setting[1]!)
    } catch {
      return undefined
    }
    if (!/^mysql(\+\w+)?:$/.test(url.protocol) || !url.hostname || url.pathname.length < 2) return undefined
    const auth = url.username ? `${url.username}${url.password ? `:${url.password}` : ''}@` : ''
    return `mysql://${auth}${url.host}${url.pathname}`
  }
  return undefined
}

/** A look at the servers `ids` in Nova's database (deleted ones are not returned), and how to close it. */
export const openNovaDbLook = async (url: string): Promise<{ look: ServerLook; close: () => Promise<void> }> => {
  const db = await createConnection(url)
  const look: ServerLook = async (ids) => {
    if (ids.length === 0) return []
    const [rows] = await db.query<RowDataPacket[]>('SELECT uuid, host, vm_state, task_state FROM instances WHERE deleted = 0 AND uuid IN (?)', [ids])
    return rows.map((r) => ({
      id: String(r['uuid']),
      host: (r['host'] as string | null) ?? null,
      active: r['vm_state'] === 'active' && (r['task_state'] ?? null) === null,
    }))
  }
  return { look, close: () => db.end() }
}
