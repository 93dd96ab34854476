import * as z from 'zod'
import type { Host, Segment } from '@lazarus/api-contract'

/**
 * `lazarus import masakari`, the decision: Masakari's segments and hosts, and what Lazarus has,
 * in; the writes that make Lazarus hold every Masakari segment and host, out. Pure: the
 * command reads both sides and carries the actions out.
 *
 * The rule: import adds what is missing and never changes or deletes what Lazarus has.
 * Records are matched by name (segment names and host names are unique in both). A record
 * Lazarus already has is left as it is, and where it differs from Masakari the difference is
 * reported: after an import the operator edits Lazarus (fencing attributes, levels), and a
 * second import must not undo that. So running it twice changes nothing.
 */

/** A Masakari segment as its API answers (microversion 1.2 adds `enabled`). Extra fields pass. */
export const MasakariSegment = z.looseObject({
  uuid: z.string().min(1),
  name: z.string().min(1),
  description: z.string().nullable().optional(),
  recovery_method: z.string().min(1),
  service_type: z.string().min(1),
  enabled: z.boolean().optional(),
})
export type MasakariSegment = z.infer<typeof MasakariSegment>

export const MasakariHost = z.looseObject({
  uuid: z.string().min(1),
  name: z.string().min(1),
  type: z.string().nullable().optional(),
  control_attributes: z.string().nullable().optional(),
  reserved: z.boolean().optional(),
  on_maintenance: z.boolean().optional(),
})
export type MasakariHost = z.infer<typeof MasakariHost>

export interface SegmentWithHosts<S, H> {
  segment: S
  hosts: H[]
}

export type MasakariState = SegmentWithHosts<MasakariSegment, MasakariHost>[]
export type LazarusState = SegmentWithHosts<Segment, Host>[]

export type Level = 1 | 2 | 3
/** The api's default for a segment created without `quick_evacuate_level`. */
export const DEFAULT_LEVEL: Level = 2

export interface SegmentBody {
  name: string
  description: string | null
  recovery_method: string
  service_type: string
  enabled: boolean
  quick_evacuate_level?: Level
}

export interface HostBody {
  name: string
  type: string | null
  control_attributes: string | null
  reserved: boolean
  on_maintenance: boolean
}

export type ImportAction = { kind: 'create_segment'; segment: string; body: SegmentBody } | { kind: 'create_host'; segment: string; host: string; body: HostBody }

/** A host that has no power driver in Lazarus (once imported): level 2 or 3 cannot fence it. */
export interface FencingGap {
  segment: string
  host: string
  controlAttributes: string | null
  /** The level its failures get: the host's own `quick_evacuate_level=`, else its segment's. */
  level: Level
  reason: string
  /** The fencer refuses these attributes whatever the level: not even level 1 recovers the host. */
  everyLevel: boolean
}

export interface ImportPlan {
  actions: ImportAction[]
  /** Names already in Lazarus where Masakari has them: nothing to do. */
  unchanged: { segments: string[]; hosts: string[] }
  /** Records Lazarus already has that differ from Masakari; left as they are. */
  differences: string[]
  /** What cannot be imported as is (a host in another Lazarus segment, a name twice); skipped. */
  conflicts: string[]
  fencing: FencingGap[]
}

export interface PlanOptions {
  /** quick_evacuate_level of the segments the import creates; the api's default (2) when unset. */
  level?: Level | undefined
  /**
   * Attributes for the hosts it creates whose Masakari control_attributes are free text (not
   * key=value, e.g. `SSH`), e.g. `driver=none` so that level 1 can recover them at once.
   */
  freeTextAttributes?: string | undefined
}

/**
 * `control_attributes` as words: `key=value` pairs separated by whitespace or commas, a value
 * quoted with '…' or "…" when it holds either (the fencer's syntax). Anything that is not
 * key=value (Masakari's free text, e.g. its documentation's `SSH`) comes back as a bare word.
 */
export const controlAttributeWords = (text: string): { pairs: Map<string, string>; bare: string[] } => {
  const pairs = new Map<string, string>()
  const bare: string[] = []
  const re = /([^\s,='"]+)=("[^"]*"|'[^']*'|[^\s,]*)|("[^"]*"|'[^']*'|[^\s,]+)/g
  for (const m of text.matchAll(re)) {
    if (m[1] !== undefined) pairs.set(m[1].toLowerCase(), (m[2] ?? '').replace(/^(["'])(.*)\1$/, '$2'))
    else if (m[3] !== undefined) bare.push(m[3])
  }
  return { pairs, bare }
}

/**
 * Why these attributes give the fencer no way to power the host off, or undefined when they
 * name a driver. `everyLevel`: the fencer refuses them outright (words that are not key=value,
 * such as Masakari's free text), so even level 1 cannot force the host down; otherwise only
 * levels 2 and 3, which power the host off, are refused.
 */
export const fencingGap = (attrs: string | null | undefined): { reason: string; everyLevel: boolean } | undefined => {
  const text = (attrs ?? '').trim()
  if (text === '') return { reason: 'no control_attributes', everyLevel: false }
  const { pairs, bare } = controlAttributeWords(text)
  if (bare.length > 0) return { reason: `"${bare.join(' ')}" is not key=value: the fencer refuses these attributes at every level`, everyLevel: true }
  const driver = pairs.get('driver')
  if (driver === undefined || driver === '') return { reason: 'names no driver=', everyLevel: false }
  if (driver === 'none') return { reason: 'driver=none: force-down only, no power off', everyLevel: false }
  return undefined
}

/** Masakari's free text (not key=value settings), which the fencer refuses at every level. */
export const isFreeText = (attrs: string | null | undefined): boolean => fencingGap(attrs)?.everyLevel === true

const hostLevel = (attrs: string | null | undefined, segmentLevel: Level): Level => {
  const own = controlAttributeWords(attrs ?? '').pairs.get('quick_evacuate_level')
  return own === '1' || own === '2' || own === '3' ? (Number(own) as Level) : segmentLevel
}

const levelOf = (s: Segment): Level => {
  const l = s.quick_evacuate_level
  return l === 1 || l === 2 || l === 3 ? l : DEFAULT_LEVEL
}

const show = (v: unknown): string => (v === undefined || v === null ? 'none' : JSON.stringify(v))

/** `field Masakari X, Lazarus Y` for each field that differs. */
const diff = (pairs: [string, unknown, unknown][]): string[] =>
  pairs.filter(([, m, l]) => (m ?? null) !== (l ?? null)).map(([k, m, l]) => `${k} Masakari ${show(m)}, Lazarus ${show(l)}`)

export const planImport = (masakari: MasakariState, lazarus: LazarusState, opts: PlanOptions = {}): ImportPlan => {
  const plan: ImportPlan = { actions: [], unchanged: { segments: [], hosts: [] }, differences: [], conflicts: [], fencing: [] }
  const lzSegments = new Map(lazarus.map((s) => [s.segment.name, s]))
  // Host names are unique across segments, in Masakari and in Lazarus alike.
  const lzHosts = new Map<string, { host: Host; segment: Segment }>()
  for (const s of lazarus) for (const h of s.hosts) lzHosts.set(h.name, { host: h, segment: s.segment })

  const seenSegments = new Set<string>()
  const seenHosts = new Set<string>()
  for (const { segment: ms, hosts } of masakari) {
    if (seenSegments.has(ms.name)) {
      plan.conflicts.push(`segment ${ms.name}: Masakari listed it twice; only the first was imported`)
      continue
    }
    seenSegments.add(ms.name)
    const existing = lzSegments.get(ms.name)
    let segmentLevel: Level
    if (existing) {
      plan.unchanged.segments.push(ms.name)
      segmentLevel = levelOf(existing.segment)
      const d = diff([
        ['recovery_method', ms.recovery_method, existing.segment.recovery_method],
        ['service_type', ms.service_type, existing.segment.service_type],
        ['description', ms.description, existing.segment.description],
        ['enabled', ms.enabled ?? true, existing.segment.enabled ?? true],
      ])
      if (d.length > 0) plan.differences.push(`segment ${ms.name}: ${d.join('; ')}`)
    } else {
      segmentLevel = opts.level ?? DEFAULT_LEVEL
      plan.actions.push({
        kind: 'create_segment',
        segment: ms.name,
        body: {
          name: ms.name,
          description: ms.description ?? null,
          recovery_method: ms.recovery_method,
          service_type: ms.service_type,
          enabled: ms.enabled ?? true,
          ...(opts.level ? { quick_evacuate_level: opts.level } : {}),
        },
      })
    }

    for (const mh of hosts) {
      if (seenHosts.has(mh.name)) {
        plan.conflicts.push(`host ${mh.name}: Masakari listed it twice; only the first was imported`)
        continue
      }
      seenHosts.add(mh.name)
      const there = lzHosts.get(mh.name)
      let attrs: string | null
      if (there && there.segment.name !== ms.name) {
        plan.conflicts.push(`host ${mh.name}: in Masakari segment ${ms.name} but in Lazarus segment ${there.segment.name}; not moved`)
        continue
      }
      if (there) {
        plan.unchanged.hosts.push(mh.name)
        attrs = there.host.control_attributes ?? null
        // control_attributes are Lazarus's own once imported (fencing settings): not compared.
        const d = diff([
          ['type', mh.type, there.host.type],
          ['reserved', mh.reserved ?? false, there.host.reserved],
          ['on_maintenance', mh.on_maintenance ?? false, there.host.on_maintenance],
        ])
        if (d.length > 0) plan.differences.push(`host ${mh.name} (segment ${ms.name}): ${d.join('; ')}`)
      } else {
        attrs = mh.control_attributes ?? null
        if (opts.freeTextAttributes !== undefined && isFreeText(attrs)) attrs = opts.freeTextAttributes
        plan.actions.push({
          kind: 'create_host',
          segment: ms.name,
          host: mh.name,
          body: {
            name: mh.name,
            type: mh.type ?? null,
            control_attributes: attrs,
            reserved: mh.reserved ?? false,
            on_maintenance: mh.on_maintenance ?? false,
          },
        })
      }
      const gap = fencingGap(attrs)
      if (gap) plan.fencing.push({ segment: ms.name, host: mh.name, controlAttributes: attrs, level: hostLevel(attrs, segmentLevel), ...gap })
    }
  }
  return plan
}
