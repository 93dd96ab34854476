import type { ApiClient, Host, Segment } from '@lazarus/api-contract'
import { ApiResponseError, notFoundError } from './errors.js'

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i

export const looksLikeUuid = (s: string): boolean => UUID.test(s)

const PAGE = 1000

/** Every segment, following `marker` pages. */
export const listAllSegments = async (api: ApiClient, query: Record<string, string | undefined> = {}): Promise<{ raw: unknown[]; segments: Segment[] }> => {
  const all = await api.listAllSegments({ ...query, limit: PAGE, sort_key: 'name', sort_dir: 'asc' })
  return { raw: all.raw, segments: all.data }
}

/** A segment by uuid or by name: `{segment, raw}`; exit 4 when there is none. */
export const resolveSegment = async (api: ApiClient, ref: string): Promise<{ segment: Segment; raw: unknown }> => {
  if (looksLikeUuid(ref)) {
    try {
      const got = await api.showSegment(ref)
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
  if (looksLikeUuid(ref)) {
    try {
      const got = await api.showHost(segment.uuid, ref)
      return { host: got.data.host, raw: (got.raw as { host: unknown }).host }
    } catch (err) {
      if (!(err instanceof ApiResponseError && err.status === 404)) throw err
    }
  }
  const got = await api.listHosts(segment.uuid, { name: ref })
  const i = got.data.findIndex((h) => h.name === ref)
  if (i < 0) throw notFoundError(`no host named or with uuid "${ref}" in segment ${segment.name} — \`lazarus host list --segment ${segment.name}\` shows them`)
  return { host: got.data[i] as Host, raw: (got.raw as unknown[])[i] }
}
