import { createApiService } from '@lazarus/api'
import { startEmbedded, type Embedded } from '@lazarus/all-in-one'
import { createInProcessBus } from '@lazarus/bus'
import { openDb } from '@lazarus/db'
import { createLogger } from '@lazarus/runtime'
import { copyFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot } from '../support/processes.js'
import { launchBrowser, watchErrors, type Browser, type Page } from './playwright.js'

/**
 * The operator dashboard in a real Chromium against the whole system in one process: a
 * host of a segment crashes in cloud-sim, a monitor reports it, and the page shows the
 * host go from up to fencing to fenced/recovering, the instances on their new hosts, and
 * the notification finished, with no console error on the way.
 */

const OUT = join(repoRoot, 'test-output', 'browser')
/** Set to refresh docs/dashboard.png (the README's screenshot) from this run. */
const UPDATE_DOCS = process.env['UPDATE_DOCS_SCREENSHOT'] === '1'

const json = async <T>(url: string, method = 'GET', body?: unknown, headers: Record<string, string> = {}): Promise<T> => {
  const res = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${text}`)
  return (text ? JSON.parse(text) : undefined) as T
}

/** Report a host down as a monitor does; returns the notification id. */
const notify = async (api: string, hostname: string): Promise<string> => {
  const { notification } = await json<{ notification: { notification_uuid: string } }>(`${api}/notifications`, 'POST', {
    notification: { type: 'COMPUTE_HOST', hostname, generated_time: new Date().toISOString(), payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' } },
  })
  return notification.notification_uuid
}

/** Record every state the page shows for a host, as the DOM changes (brief states included). */
const recordHostStates = (page: Page, host: string) =>
  page.evaluate((name: string) => {
    const w = window as unknown as { __states: string[] }
    w.__states = []
    const read = () => {
      const state = document.querySelector(`#segments .host[data-host="${name}"]`)?.getAttribute('data-state')
      if (state && w.__states[w.__states.length - 1] !== state) w.__states.push(state)
    }
    read()
    new MutationObserver(read).observe(document.getElementById('segments') as HTMLElement, { childList: true, subtree: true, attributes: true })
  }, host)

const statesSeen = (page: Page) => page.evaluate(() => (window as unknown as { __states: string[] }).__states)

describe('dashboard in Chromium', () => {
  let browser: Browser
  beforeAll(async () => {
    await mkdir(OUT, { recursive: true })
    browser = await launchBrowser()
  })
  afterAll(async () => {
    await browser?.close()
  })

  describe('during a host recovery', () => {
    let sys: Embedded
    beforeAll(async () => {
      // A BMC that takes a moment to power off and evacuations that take a moment, as real
      // ones do, so the page has something to show between the steps.
      sys = await startEmbedded({
        sim: { hosts: 5, instancesPerHost: 2, powerOffDelayMs: 1200, evacuationDelayMs: 1500, reportIntervalMs: 500, serviceDownTimeMs: 3000 },
      })
    }, 60_000)
    afterAll(async () => {
      await sys?.stop()
    })

    it('shows the host go from up to fencing to fenced, the instances on their new hosts, and the notification finished', async () => {
      const api = `${sys.apiUrl}/v1`
      const { segment } = await json<{ segment: { uuid: string } }>(`${api}/segments`, 'POST', {
        // A target above what the capacity counts (CAPACITY_MAX_K, 3): the page says the segment is below it.
        segment: { name: 'rack-a', recovery_method: 'auto', service_type: 'COMPUTE', quick_evacuate_level: 2, capacity_target: 4 },
      })
      const names = sys.sim.hostNames()
      const [victim, , , reserved, maintenance] = names as [string, string, string, string, string]
      for (const name of names) {
        await json(`${api}/segments/${segment.uuid}/hosts`, 'POST', {
          host: {
            name,
            type: 'COMPUTE',
            control_attributes: `driver=redfish address=${sys.sim.redfishSystemUrl(name)} username=${sys.sim.credentials.username} password_file=${sys.bmcPasswordFile(name)} insecure_http=true`,
            ...(name === reserved ? { reserved: true } : {}),
            ...(name === maintenance ? { on_maintenance: true } : {}),
          },
        })
      }

      const page = await browser.context.newPage()
      const errors = watchErrors(page)
      await page.goto(`${sys.apiUrl}/dashboard`)
      await page.waitForFunction((n: number) => document.querySelectorAll('#segments .host').length === n, names.length, { polling: 50, timeout: 15_000 })
      expect(await page.locator(`.host[data-host="${victim}"]`).getAttribute('data-state')).toBe('up')
      expect(await page.locator(`.host[data-host="${reserved}"]`).getAttribute('data-state')).toBe('reserved')
      expect(await page.locator(`.host[data-host="${maintenance}"]`).getAttribute('data-state')).toBe('maintenance')
      expect(await page.locator('#conn').getAttribute('data-conn')).toBe('live')
      // Each segment says how many host failures it tolerates, read from GET /v1/segments/{id}/capacity.
      const capacity = await json<{ capacity: { host_failures_tolerated: number } }>(`${api}/segments/${segment.uuid}/capacity`)
      const line = '#segments .segment[data-segment="rack-a"] .capacity'
      await page.waitForFunction((sel: string) => /tolerates \d host failure/.test(document.querySelector(sel)?.textContent ?? ''), line, { polling: 50, timeout: 15_000 })
      expect(await page.locator(line).textContent()).toMatch(new RegExp(`^tolerates ${capacity.capacity.host_failures_tolerated} host failure\\(s\\) · below its target of 4`))
      expect(await page.locator(line).getAttribute('class')).toBe('capacity below')
      await recordHostStates(page, victim)

      const instances = sys.sim.servers().filter((s) => s.host === victim)
      expect(instances.length).toBeGreaterThan(0)
      sys.sim.crashHost(victim)
      const id = await notify(api, victim)

      // In flight: the host is fenced or already recovering, and the recovery has a card.
      await page.waitForFunction((h: string) => ['fenced', 'recovering'].includes(document.querySelector(`.host[data-host="${h}"]`)?.getAttribute('data-state') ?? ''), victim, {
        polling: 50,
        timeout: 30_000,
      })
      await page
        .locator(`#recoveries .recovery[data-notification="${id}"]`)
        .waitFor({ state: 'attached', timeout: 10_000 })
        .catch(() => {})
      const during = join(OUT, 'dashboard-during-recovery.png')
      await page.screenshot({ path: during, fullPage: true })

      // The end: the notification is finished in the history and has a timeline.
      await page.locator(`#history tr[data-notification="${id}"][data-status="finished"]`).waitFor({ state: 'attached', timeout: 60_000 })
      const timeline = `#finished .timeline[data-notification="${id}"]`
      await page.locator(timeline).waitFor({ state: 'attached', timeout: 10_000 })
      await page.screenshot({ path: join(OUT, 'dashboard-finished.png'), fullPage: true })

      // up → fencing → fenced/recovering, as the page showed it. Fencing can be shorter than
      // one refresh: then the timeline must show that the fence and force-down steps ran.
      const seen = await statesSeen(page)
      expect(seen[0]).toBe('up')
      const firstAfter = seen.findIndex((s) => s === 'fenced' || s === 'recovering')
      expect(firstAfter, `states seen: ${seen.join(' → ')}`).toBeGreaterThan(0)
      const fencingAt = seen.indexOf('fencing')
      if (fencingAt < 0) console.warn(`fencing was too brief to be shown (states seen: ${seen.join(' → ')}); checking the timeline`)
      else expect(fencingAt).toBeLessThan(firstAfter)
      for (const task of ['detect_host_failure', 'power_off_host', 'confirm_power_off', 'force_down_compute_service', 'fence_host', 'evacuate_instances_task']) {
        const step = page.locator(`${timeline} li[data-task="${task}"]`)
        expect(await step.count(), `timeline step ${task}`).toBe(1)
        expect(await step.getAttribute('data-state')).toBe('success')
        expect(await step.locator('time').first().getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/)
      }

      // Every instance of the failed host runs elsewhere, and the page says where.
      const after = sys.sim.servers()
      for (const inst of instances) {
        const now = after.find((s) => s.id === inst.id)
        expect(now?.host, inst.name).not.toBe(victim)
        const row = page.locator(`${timeline} li[data-task="vmove:${inst.name}"]`)
        expect(await row.getAttribute('data-state')).toBe('succeeded')
        expect(await row.locator('.step-label').textContent()).toBe(`${inst.name} → ${now?.host}`)
      }
      // The host stays fenced (powered off, on maintenance) until an operator brings it back.
      expect(await page.locator(`.host[data-host="${victim}"]`).getAttribute('data-state')).toBe('fenced')

      // History filters.
      await page.evaluate(() => {
        const select = document.querySelector('#filters select[name=status]') as HTMLSelectElement
        select.value = 'failed'
        select.dispatchEvent(new Event('change', { bubbles: true }))
      })
      expect(await page.locator(`#history tbody tr`).count()).toBe(0)
      await page.evaluate((h: string) => {
        const status = document.querySelector('#filters select[name=status]') as HTMLSelectElement
        status.value = 'finished'
        const host = document.querySelector('#filters select[name=host]') as HTMLSelectElement
        host.value = h
        host.dispatchEvent(new Event('change', { bubbles: true }))
      }, victim)
      expect(await page.locator(`#history tbody tr`).count()).toBe(1)

      // A second host fails: its recovery runs live beside the first one's timeline.
      await page.evaluate(() => {
        for (const name of ['status', 'host']) (document.querySelector(`#filters select[name=${name}]`) as HTMLSelectElement).value = ''
        document.querySelector('#filters select[name=host]')?.dispatchEvent(new Event('change', { bubbles: true }))
      })
      const second = names[1] as string
      sys.sim.crashHost(second)
      const next = await notify(api, second)
      await page.waitForFunction((h: string) => document.querySelector(`.host[data-host="${h}"]`)?.getAttribute('data-state') === 'recovering', second, {
        polling: 50,
        timeout: 30_000,
      })
      const both = join(OUT, 'dashboard-two-recoveries.png')
      await page.screenshot({ path: both, fullPage: true })
      if (UPDATE_DOCS) await copyFile(both, join(repoRoot, 'docs', 'dashboard.png'))
      await page.locator(`#history tr[data-notification="${next}"][data-status="finished"]`).waitFor({ state: 'attached', timeout: 60_000 })

      await page.close()
      expect(errors).toEqual([])
    })
  })

  describe('with API keys', () => {
    it('asks for a token once, refuses a wrong one, and shows the data with a right one', async () => {
      const db = await openDb('memory:')
      const bus = createInProcessBus()
      const api = await createApiService({ db, bus, log: createLogger('api', 'silent'), config: { apiKeys: 'sekret-admin:admin,sekret-reader:reader' } })
      await api.start()
      const server = await api.listen(0)
      const base = `http://127.0.0.1:${server.port}`
      try {
        const admin = { 'X-Auth-Token': 'sekret-admin' }
        const { segment } = await json<{ segment: { uuid: string } }>(
          `${base}/v1/segments`,
          'POST',
          { segment: { name: 'locked', recovery_method: 'auto', service_type: 'COMPUTE' } },
          admin,
        )
        await json(`${base}/v1/segments/${segment.uuid}/hosts`, 'POST', { host: { name: 'locked-1', type: 'COMPUTE', control_attributes: '' } }, admin)

        const page = await browser.context.newPage()
        const errors = watchErrors(page)
        await page.goto(`${base}/dashboard/`)
        const dialog = page.locator('#token-dialog')
        await dialog.waitFor({ state: 'visible', timeout: 10_000 })
        expect(await page.locator('#conn').getAttribute('data-conn')).toBe('auth')

        await page.locator('#token-input').fill('wrong')
        await page.locator('#token-form button[type=submit]').click()
        await page.locator('#token-error').waitFor({ state: 'visible', timeout: 5_000 })
        expect(await dialog.isVisible()).toBe(true)

        // A reader's key is known, but the policy keeps the dashboard for admins (lazarus:dashboard:state).
        // The wrong token's error is still shown: wait for this answer's, not for any error.
        await page.locator('#token-input').fill('sekret-reader')
        await page.locator('#token-form button[type=submit]').click()
        await expect.poll(() => page.locator('#token-error').textContent(), { timeout: 5_000 }).toContain('lazarus:dashboard:state')

        await page.locator('#token-input').fill('sekret-admin')
        await page.locator('#token-form button[type=submit]').click()
        await page.locator('.host[data-host="locked-1"][data-state="up"]').waitFor({ state: 'attached', timeout: 10_000 })
        expect(await dialog.isVisible()).toBe(false)
        // This api has no OpenStack credentials: no capacity line, and no request that would fail.
        expect(await page.locator('.capacity').count()).toBe(0)
        expect(await page.locator('#change-token').isVisible()).toBe(true)

        // Once: a reload keeps the token for the session.
        await page.goto(`${base}/dashboard/`)
        await page.locator('.host[data-host="locked-1"]').waitFor({ state: 'attached', timeout: 10_000 })
        expect(await dialog.isVisible()).toBe(false)

        await page.close()
        expect(errors).toEqual([])
      } finally {
        await server.close()
        await api.stop()
        await bus.close()
        await db.close()
      }
    })
  })
})
