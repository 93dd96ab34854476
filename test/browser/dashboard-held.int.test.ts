import { createApiService } from '@lazarus/api'
import { createInProcessBus } from '@lazarus/bus'
import { openDb } from '@lazarus/db'
import { createLogger } from '@lazarus/runtime'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot } from '../support/processes.js'
import { launchBrowser, watchErrors, type Browser, type Page } from './playwright.js'

/**
 * Held host failures on the dashboard, in a real Chromium against a real api: the storm
 * guard pauses a segment of 3 hosts at its second failure and holds it; the page shows the
 * pause and the held failure, and an operator releases it, then releases the rest by
 * resuming (after a confirmation), through the api's own `/v1` endpoints with the page's
 * token. A reader allowed to see the dashboard but not to act gets the api's refusal shown,
 * and nothing changes.
 */

const OUT = join(repoRoot, 'test-output', 'browser')
const ADMIN = 'held-admin'
const READER = 'held-reader'

const json = async <T>(url: string, method = 'GET', body?: unknown, token = ADMIN): Promise<T> => {
  const res = await fetch(url, {
    method,
    headers: { 'X-Auth-Token': token, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${text}`)
  return (text ? JSON.parse(text) : undefined) as T
}

interface NotificationView {
  notification_uuid: string
  status: string
  held: boolean
}

/** Report a host down as a monitor does. */
const notify = async (api: string, hostname: string): Promise<NotificationView> =>
  (
    await json<{ notification: NotificationView }>(`${api}/notifications`, 'POST', {
      notification: { type: 'COMPUTE_HOST', hostname, generated_time: new Date().toISOString(), payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' } },
    })
  ).notification

const login = async (page: Page, base: string, token: string) => {
  await page.goto(`${base}/dashboard/`)
  await page.locator('#token-dialog').waitFor({ state: 'visible', timeout: 10_000 })
  await page.locator('#token-input').fill(token)
  await page.locator('#token-form button[type=submit]').click()
  await page.locator('#token-dialog').waitFor({ state: 'hidden', timeout: 10_000 })
}

describe('held failures on the dashboard in Chromium', () => {
  let browser: Browser
  beforeAll(async () => {
    await mkdir(OUT, { recursive: true })
    browser = await launchBrowser()
  })
  afterAll(async () => {
    await browser?.close()
  })

  it('shows a segment paused by the storm guard with its held failure; release and release-all work for an admin and are refused to a reader', async () => {
    const db = await openDb('memory:')
    const bus = createInProcessBus()
    const api = await createApiService({
      db,
      bus,
      log: createLogger('api', 'silent'),
      // Readers may watch the dashboard here, but releasing and resuming stay admin only (the defaults).
      config: { apiKeys: `${ADMIN}:admin,${READER}:reader`, policy: JSON.stringify({ 'lazarus:dashboard:state': 'rule:admin_api or role:reader' }) },
    })
    await api.start()
    const server = await api.listen(0)
    const base = `http://127.0.0.1:${server.port}`
    const v1 = `${base}/v1`
    try {
      const { segment } = await json<{ segment: { uuid: string } }>(`${v1}/segments`, 'POST', {
        segment: { name: 'storm-a', recovery_method: 'auto', service_type: 'COMPUTE' },
      })
      for (const name of ['sa-1', 'sa-2', 'sa-3']) {
        await json(`${v1}/segments/${segment.uuid}/hosts`, 'POST', { host: { name, type: 'COMPUTE', control_attributes: '' } })
      }
      // 2 of 3 hosts failing is more than half: the second failure is held and the segment paused.
      const first = await notify(v1, 'sa-1')
      const second = await notify(v1, 'sa-2')
      expect(first.held).toBe(false)
      expect(second).toMatchObject({ status: 'new', held: true })
      const segmentNow = async () => (await json<{ segment: { paused: boolean; paused_reason: string | null } }>(`${v1}/segments/${segment.uuid}`)).segment
      const notificationNow = async (id: string) => (await json<{ notification: NotificationView }>(`${v1}/notifications/${id}`)).notification
      expect((await segmentNow()).paused_reason).toMatch(/^storm guard: /)

      const seg = '#segments .segment[data-segment="storm-a"]'
      const heldRow = (id: string) => `${seg} .held li[data-notification="${id}"]`

      // A reader sees the pause and the held failure, and is refused both actions.
      const reader = await browser.context.newPage()
      const readerErrors = watchErrors(reader)
      await login(reader, base, READER)
      await reader.locator(heldRow(second.notification_uuid)).waitFor({ state: 'attached', timeout: 10_000 })
      expect(await reader.locator(`${seg} .pause`).getAttribute('data-paused')).toBe('storm_guard')
      expect(await reader.locator(`${seg} .pause-reason`).textContent()).toMatch(/paused by the storm guard since .*: storm guard: /)
      expect(await reader.locator(`${heldRow(second.notification_uuid)} .held-host`).textContent()).toBe('sa-2')
      expect(await reader.locator(`${heldRow(second.notification_uuid)} time`).getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/)
      expect(await reader.locator(`${heldRow(second.notification_uuid)} .msg`).textContent()).toMatch(/^Held: /)
      // Its host and its card say it is held, not that a recovery runs.
      expect(await reader.locator('.host[data-host="sa-2"]').getAttribute('title')).toContain('failure held')
      expect(await reader.locator(`#recoveries .recovery[data-notification="${second.notification_uuid}"] .held-badge`).count()).toBe(1)
      expect(await reader.locator(`#recoveries .recovery[data-notification="${first.notification_uuid}"] .held-badge`).count()).toBe(0)

      await reader.locator(`${heldRow(second.notification_uuid)} button[data-action="release"]`).click()
      const refusal = reader.locator(`${seg} .outcome.error`)
      await refusal.waitFor({ state: 'attached', timeout: 10_000 })
      expect(await refusal.textContent()).toContain("Policy doesn't allow lazarus:notifications:release")
      expect(await refusal.getAttribute('role')).toBe('alert')

      await reader.locator(`${seg} button[data-action="resume"]`).click()
      await reader.locator('#confirm-dialog').waitFor({ state: 'visible', timeout: 5_000 })
      await reader.locator('#confirm-ok').click()
      await reader.waitForFunction((sel: string) => document.querySelector(sel)?.textContent?.includes('lazarus:segments:resume') === true, `${seg} .outcome.error`, {
        polling: 50,
        timeout: 10_000,
      })
      await reader.screenshot({ path: join(OUT, 'dashboard-held-refused.png'), fullPage: true })
      // Nothing changed.
      expect(await notificationNow(second.notification_uuid)).toMatchObject({ status: 'new', held: true })
      expect((await segmentNow()).paused).toBe(true)
      // Chromium also logs each refused request on the console; the requests themselves are what counts.
      expect(readerErrors.filter((e) => !e.startsWith('console: Failed to load resource'))).toEqual([
        `HTTP 403 ${v1}/notifications/${second.notification_uuid}/release`,
        `HTTP 403 ${v1}/segments/${segment.uuid}/resume`,
      ])
      await reader.close()

      // An admin releases the held failure: published, no longer held; the segment stays paused.
      const admin = await browser.context.newPage()
      const adminErrors = watchErrors(admin)
      await login(admin, base, ADMIN)
      await admin.locator(heldRow(second.notification_uuid)).waitFor({ state: 'attached', timeout: 10_000 })
      await admin.screenshot({ path: join(OUT, 'dashboard-held.png'), fullPage: true })
      await admin.locator(`${heldRow(second.notification_uuid)} button[data-action="release"]`).click()
      await admin.locator(heldRow(second.notification_uuid)).waitFor({ state: 'detached', timeout: 10_000 })
      expect(await admin.locator(`${seg} .outcome`).textContent()).toContain('Released the failure of sa-2')
      expect((await notificationNow(second.notification_uuid)).held).toBe(false)
      expect((await segmentNow()).paused).toBe(true)

      // The next failure is held by the pause and appears live; release-all asks first, then resumes.
      const third = await notify(v1, 'sa-3')
      expect(third.held).toBe(true)
      await admin.locator(heldRow(third.notification_uuid)).waitFor({ state: 'attached', timeout: 10_000 })
      await admin.locator(`${seg} button[data-action="resume"]`).click()
      await admin.locator('#confirm-dialog').waitFor({ state: 'visible', timeout: 5_000 })
      expect(await admin.locator('#confirm-text').textContent()).toContain('1 held failure of storm-a is released')
      await admin.locator('#confirm-cancel').click()
      await admin.locator('#confirm-dialog').waitFor({ state: 'hidden', timeout: 5_000 })
      expect((await segmentNow()).paused).toBe(true)

      await admin.locator(`${seg} button[data-action="resume"]`).click()
      await admin.locator('#confirm-ok').click()
      await admin.locator(`${seg} .pause`).waitFor({ state: 'detached', timeout: 10_000 })
      expect(await admin.locator(`${seg} .outcome`).textContent()).toContain('Resumed storm-a: 1 held failure released')
      expect((await segmentNow()).paused).toBe(false)
      expect((await notificationNow(third.notification_uuid)).held).toBe(false)
      await admin.close()
      expect(adminErrors).toEqual([])
    } finally {
      await server.close()
      await api.stop()
      await bus.close()
      await db.close()
    }
  })
})
