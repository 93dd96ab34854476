import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * Chromium through playwright-core, driving Debian's /usr/bin/chromium.
 *
 * playwright-core is not a workspace dependency yet: it is loaded from the directory in
 * `PLAYWRIGHT_CORE_DIR` (a folder whose node_modules holds playwright-core, default
 * /tmp/pw), else from the workspace. Once it is a devDependency, replace `loadChromium`
 * with `import { chromium } from 'playwright-core'`.
 */

/** The small part of playwright-core's API these tests use. */
export interface Locator {
  locator(selector: string): Locator
  count(): Promise<number>
  first(): Locator
  getAttribute(name: string): Promise<string | null>
  textContent(): Promise<string | null>
  fill(value: string): Promise<void>
  click(): Promise<void>
  waitFor(opts?: { state?: 'attached' | 'visible' | 'hidden'; timeout?: number }): Promise<void>
  isVisible(): Promise<boolean>
}
export interface ConsoleMessage {
  type(): string
  text(): string
}
export interface Page {
  goto(url: string, opts?: { waitUntil?: 'load' | 'domcontentloaded' }): Promise<unknown>
  on(event: 'console', cb: (m: ConsoleMessage) => void): void
  on(event: 'pageerror', cb: (e: Error) => void): void
  on(event: 'requestfailed', cb: (r: { url(): string; failure(): { errorText: string } | null }) => void): void
  on(event: 'response', cb: (r: { url(): string; status(): number }) => void): void
  locator(selector: string): Locator
  evaluate<T, A = undefined>(fn: (arg: A) => T | Promise<T>, arg?: A): Promise<T>
  waitForFunction<A>(fn: (arg: A) => unknown, arg: A, opts?: { polling?: number; timeout?: number }): Promise<unknown>
  screenshot(opts: { path: string; fullPage?: boolean }): Promise<Buffer>
  close(): Promise<void>
}
export interface BrowserContext {
  newPage(): Promise<Page>
  pages(): Page[]
  close(): Promise<void>
}
interface Chromium {
  launchPersistentContext(userDataDir: string, opts: Record<string, unknown>): Promise<BrowserContext>
}

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium'

const loadChromium = (): Chromium => {
  const dir = process.env['PLAYWRIGHT_CORE_DIR'] ?? '/tmp/pw'
  for (const from of [join(dir, 'package.json'), import.meta.url]) {
    try {
      return (createRequire(from)('playwright-core') as { chromium: Chromium }).chromium
    } catch {
      // try the next place
    }
  }
  throw new Error(`playwright-core not found: install it in ${dir} (npm i playwright-core) or set PLAYWRIGHT_CORE_DIR`)
}

export interface Browser {
  context: BrowserContext
  close(): Promise<void>
}

/** Headless Chromium with a fresh profile, removed on close. */
export const launchBrowser = async (): Promise<Browser> => {
  const chromium = loadChromium()
  const profile = await mkdtemp(join(tmpdir(), 'lazarus-chromium-'))
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1360, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
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
