import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { buildPolicy, legacyPolicyEntries, PolicyError, type Policy } from './policy.js'

/**
 * The policy of the settings: the defaults, then POLICY_FILE (YAML or JSON, oslo.policy's
 * `"name": "check string"` map, as Masakari's policy.yaml), then the `POLICY` setting.
 */
export const loadPolicy = (o: { policyFile?: string | undefined; policy?: string | undefined }): Policy => {
  const layers: { origin: string; entries: Record<string, unknown> }[] = []
  if (o.policyFile) {
    let text: string
    try {
      text = readFileSync(o.policyFile, 'utf8')
    } catch (err) {
      throw new PolicyError(`POLICY_FILE: cannot read ${o.policyFile}: ${(err as Error).message}`)
    }
    let doc: unknown
    try {
      doc = parse(text)
    } catch (err) {
      throw new PolicyError(`POLICY_FILE ${o.policyFile}: not YAML: ${(err as Error).message}`)
    }
    if (doc !== null && doc !== undefined && (typeof doc !== 'object' || Array.isArray(doc))) {
      throw new PolicyError(`POLICY_FILE ${o.policyFile}: expected a map of "name": "check string"`)
    }
    layers.push({ origin: `POLICY_FILE ${o.policyFile}`, entries: (doc ?? {}) as Record<string, unknown> })
  }
  if (o.policy) layers.push({ origin: 'POLICY', entries: legacyPolicyEntries(o.policy) })
  return buildPolicy(layers)
}
