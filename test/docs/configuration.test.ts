import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { configurationReference } from '../../packages/cli/src/config/reference.js'

const doc = join(dirname(fileURLToPath(import.meta.url)), '../../docs/configuration.md')

describe('docs/configuration.md', () => {
  it('is the reference the schemas generate now', () => {
    const current = readFileSync(doc, 'utf8')
    const generated = configurationReference()
    if (current !== generated) {
      const a = current.split('\n')
      const b = generated.split('\n')
      const i = b.findIndex((line, n) => line !== a[n])
      expect.fail(`docs/configuration.md is stale (line ${i + 1}: ${JSON.stringify(a[i])}, now ${JSON.stringify(b[i])}). Run \`pnpm run docs:config\` and commit the result.`)
    }
  })

  it("names every service and Masakari's options where they match", () => {
    const text = configurationReference()
    for (const s of ['api', 'detector', 'fencer', 'evacuator', 'agent', 'ingest']) expect(text).toContain(`## ${s}\n`)
    expect(text).toContain('### evacuator: [host_failure]')
    expect(text).toMatch(/\| `evacuate_all_instances` \| `EVACUATE_ALL_INSTANCES` \| `true` \|/)
    expect(text).toMatch(/\| `duplicate_notification_detection_interval` \| `DUPLICATE_NOTIFICATION_DETECTION_INTERVAL` \| `180` \|/)
  })
})
