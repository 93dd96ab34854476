import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { OpenStackClient } from '@lazarus/openstack'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiLook, bootServers, connect, deleteServers, loadBox, serversNamed } from './box.js'
import { novaDbUrl, openNovaDbLook } from './nova-db.js'

/**
 * The side-by-side benchmark's two watchers: a look at the servers through nova-api's list and
 * one in Nova's database (the benchmark's default on the box's machine, so that watching costs
 * nova-api nothing) must see the same servers, on the same hosts, ACTIVE at the same time.
 */

describe("nova.conf's database connection", () => {
  const dir = mkdtempSync(join(tmpdir(), 'lzr-novaconf-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const conf = (text: string) => {
    const p = join(dir, `nova-${Math.random().toString(36).slice(2)}.conf`)
    writeFileSync(p, text)
    return p
  }

  it("is the [database] one, not [api_database]'s, as a mysql URL", () => {
    const p = conf(
      '[DEFAULT]\ndebug = false\n[api_database]\nconnection = mysql+pymysql://u:p@127.0.0.1/nova_api\n[database]\nconnection = mysql+pymysql://u:p%40x@127.0.0.1:3307/nova\n',
    )
    expect(novaDbUrl(p)).toBe('mysql://u:p%40x@127.0.0.1:3307/nova')
  })

  it('is none for a missing file, a database that is not MySQL, or a malformed URL', () => {
    expect(novaDbUrl(join(dir, 'absent.conf'))).toBeUndefined()
    expect(novaDbUrl(conf('[database]\nconnection = sqlite:////var/lib/nova/nova.sqlite\n'))).toBeUndefined()
    expect(novaDbUrl(conf('[database]\nconnection = not a url\n'))).toBeUndefined()
    expect(novaDbUrl(conf('[database]\nconnection = mysql+pymysql://u:p@127.0.0.1/\n'))).toBeUndefined()
    expect(novaDbUrl(conf('[api_database]\nconnection = mysql+pymysql://u:p@127.0.0.1/nova_api\n'))).toBeUndefined()
  })
})

const loaded = loadBox()
const url = novaDbUrl()
const PREFIX = 'lzr-novadb-'

if (!loaded.box || !url) {
  describe("the benchmark's watchers on real Nova", () => {
    it.skip(`skipped: ${loaded.box ? 'the box does not run on this machine (no /etc/nova/nova.conf)' : loaded.reason}`, () => {})
  })
} else {
  const box = loaded.box
  describe("the benchmark's watchers on real Nova", () => {
    let os: OpenStackClient
    let db: Awaited<ReturnType<typeof openNovaDbLook>>
    beforeAll(async () => {
      os = await connect(box)
      db = await openNovaDbLook(url)
      const left = await serversNamed(os, PREFIX)
      if (left.length > 0) await deleteServers(os, left)
    }, 120_000)
    afterAll(async () => {
      await db?.close()
      const left = os ? await serversNamed(os, PREFIX).catch(() => []) : []
      if (left.length > 0) await deleteServers(os, left)
    }, 120_000)

    it('see the same servers on the same hosts, ACTIVE in both once booted, and neither once deleted', async () => {
      const host = box.computeHosts[box.computeHosts.length - 1]!
      const ids = await bootServers(os, box, { host, names: [`${PREFIX}1`, `${PREFIX}2`] })
      const other = '00000000-0000-4000-8000-000000000000'
      const viaApi = await apiLook(os)([...ids, other])
      const viaDb = await db.look([...ids, other])
      const byId = (xs: typeof viaApi) => Object.fromEntries(xs.map((s) => [s.id, { host: s.host, active: s.active }]))
      expect(byId(viaDb)).toEqual(byId(viaApi))
      expect(byId(viaDb)).toEqual(Object.fromEntries(ids.map((id) => [id, { host, active: true }])))
      await deleteServers(os, ids)
      expect(await db.look(ids)).toEqual([])
      expect(await apiLook(os)(ids)).toEqual([])
    }, 180_000)
  })
}
