import type { ApiClient } from './api-client.js'
import { HostEnvelope, HostList, SegmentEnvelope, SegmentList, type Host, type Segment } from './api-types.js'
import { ApiResponseError, notFoundError } from './errors.js'

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i

export const looksLikeUuid = (s: string): boolean => UUID.test(s)

const PAGE = 1000

/** Every segment, following `marker` pages. */
export const listAllSegments = async (api: ApiClient, query: Record<string, string | undefined> = {}): Promise<{ raw: unknown[]; segments: Segment[] }> => {
  const segments: Segment[] = []
  const raw: unknown[] = []
  let marker: string | undefined
  for (;;) {
    const page = await api.get('/v1/segments', SegmentList, { ...query, limit: PAGE, marker, sort_key: 'name', sort_dir: 'asc' })
    segments.push(...page.data.segments)
    raw.push(...((page.raw as { segments: unknown[] }).segments ?? []))
    const last = page.data.segments.at(-1)
    if (page.data.segments.length < PAGE || !last) return { raw, segments }
    marker = last.uuid
  }
}

/** A segment by uuid or by name: `{segment, raw}`; exit 4 when there is none. */
export const resolveSegment = async (api: ApiClient, ref: string): Promise<{ segment: Segment; raw: unknown }> => {
  if (looksLikeUuid(ref)) {
    try {
      const got = await api.get(`/v1/segments/${encodeURIComponent(ref)}`, SegmentEnvelope)
      return { segment: got.data.segment, raw: (got.raw as { segment: unknown }).segment }
    } catch (err) {
      if (!(err instanceof ApiResponseError && err.status === 404)) throw err
    }
  }
  const { segments, raw } = await listAllSegments(api)
  const i = segments.findIndex((s) => s.name === ref)
  if (i < 0) throw notFoundError(`no segment named or with uuid "${ref}" — \`lazarus segment list\` shows them`)
  return { segment: segments[i] as Segment, raw: raw[i] }
}

/** A host of a segment by uuid or by name; exit 4 when there is none. */
export const resolveHost = async (api: ApiClient, segment: Segment, ref: string): Promise<{ host: Host; raw: unknown }> => {
  const base = `/v1/segments/${segment.uuid}/hosts`
  if (looksLikeUuid(ref)) {
    try {
      const got = await api.get(`${base}/${encodeURIComponent(ref)}`, HostEnvelope)
      return { host: got.data.host, raw: (got.raw as { host: unknown }).host }
    } catch (err) {
      if (!(err instanceof ApiResponseError && err.status === 404)) throw err
    }
  }
  const got = await api.get(base, HostList, { name: ref })
  const i = got.data.hosts.findIndex((h) => h.name === ref)
  if (i < 0) throw notFoundError(`no host named or with uuid "${ref}" in segment ${segment.name} — \`lazarus host list --segment ${segment.name}\` shows them`)
  return { host: got.data.hosts[i] as Host, raw: (got.raw as { hosts: unknown[] }).hosts[i] }
}
