import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The page's files, served as they are: no build step, no bundler. */
export const ASSET_FILES = {
  'index.html': 'text/html; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
} as const
export type AssetName = keyof typeof ASSET_FILES

export interface Asset {
  body: string
  contentType: string
}

/**
 * The files live in `src/dashboard/assets/`. Run from the sources (tests, tsx) they sit
 * beside this module; run from `dist/dashboard/`, tsc has not copied them, so they are
 * read from the package's `src/` instead.
 */
const candidates = (): string[] => [new URL('./assets/', import.meta.url), new URL('../../src/dashboard/assets/', import.meta.url)].map((u) => fileURLToPath(u))

export const loadAssets = (): Map<AssetName, Asset> => {
  const dir = candidates().find((d) => existsSync(`${d}index.html`))
  if (!dir) throw new Error(`dashboard assets not found (looked in ${candidates().join(', ')})`)
  const assets = new Map<AssetName, Asset>()
  for (const [name, contentType] of Object.entries(ASSET_FILES) as [AssetName, string][]) {
    assets.set(name, { body: readFileSync(`${dir}${name}`, 'utf8'), contentType })
  }
  return assets
}
