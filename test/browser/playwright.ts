import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'

/** Chromium through playwright-core, driving Debian's /usr/bin/chromium (no browser download). */

export type { BrowserContext, ConsoleMessage, Locator, Page } from 'playwright-core'

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium'

export interface Browser {
  context: BrowserContext
  close(): Promise<void>
}

/** Headless Chromium with a fresh profile, removed on close. */
export const launchBrowser = async (): Promise<Browser> => {
  const profile = await mkdtemp(join(tmpdir(), 'lazarus-chromium-'))
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1360, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
    return {
      context,
      async close() {
        await context.close().catch(() => {})
        await rm(profile, { recursive: true, force: true })
      },
    }
  } catch (err) {
    await rm(profile, { recursive: true, force: true })
    throw err
  }
}

/** Console errors, uncaught page errors, failed requests and HTTP errors of a page, as lines. */
export const watchErrors = (page: Page): string[] => {
  const errors: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`)
  })
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`))
  page.on('requestfailed', (r) => {
    const why = r.failure()?.errorText ?? 'failed'
    // A stream the page itself aborts (closing, reconnecting) is not an error.
    if (why !== 'net::ERR_ABORTED') errors.push(`request ${r.url()}: ${why}`)
  })
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`HTTP ${r.status()} ${r.url()}`)
  })
  return errors
}
