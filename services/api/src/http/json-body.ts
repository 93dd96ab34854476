import { unstorableTextReason } from '@lazarus/contracts'
import type { Context } from 'hono'
import { ApiError, badRequest } from '../errors.js'

/**
 * The request's JSON body: 415 unless it is declared JSON, 400 when it does not parse, and
 * 400 naming the field when any string in it, key or value, holds a NUL or a lone surrogate
 * (JSON allows both as escapes; PostgreSQL stores neither, so they would fail as a 500 deep
 * in the store, or, in a field no schema reads, in a dead letter's body).
 */
export const jsonBody = async (c: Context): Promise<unknown> => {
  const type = c.req.header('content-type')
  if (!type || !/^application\/([a-z0-9.+-]*\+)?json\b/i.test(type.trim())) {
    throw new ApiError(415, `Unsupported Content-Type ${type ?? '(none)'}: send application/json`)
  }
  const text = await c.req.text()
  let body: unknown
  try {
    body = JSON.parse(text) as unknown
  } catch {
    throw badRequest('Malformed request body: not JSON')
  }
  const bad = unstorableString(body)
  if (bad) throw badRequest(`Invalid input for field/attribute ${bad.field}: ${bad.reason}`)
  return body
}

/**
 * The first string of `value` that cannot be stored, with its dotted path (`body` for the
 * root). Walked with a stack of its own, each node pointing at its parent (the path is built
 * only for the answer): a deeply nested body neither overflows the call stack nor costs the
 * square of its depth.
 */
export const unstorableString = (value: unknown): { field: string; reason: string } | undefined => {
  interface Node {
    v: unknown
    key: string | undefined
    parent: Node | undefined
  }
  const name = (node: Node | undefined) => {
    const path: string[] = []
    for (let n = node; n?.key !== undefined; n = n.parent) path.push(n.key)
    return path.length > 0 ? path.reverse().join('.') : 'body'
  }
  const stack: Node[] = [{ v: value, key: undefined, parent: undefined }]
  for (let node = stack.pop(); node; node = stack.pop()) {
    const v = node.v
    if (typeof v === 'string') {
      const reason = unstorableTextReason(v)
      if (reason) return { field: name(node), reason }
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i -= 1) stack.push({ v: v[i], key: String(i), parent: node })
    } else if (typeof v === 'object' && v !== null) {
      const entries = Object.entries(v)
      for (const [k] of entries) {
        const reason = unstorableTextReason(k)
        if (reason) return { field: `${name(node)} (a key)`, reason }
      }
      for (let i = entries.length - 1; i >= 0; i -= 1) {
        const [k, child] = entries[i]!
        stack.push({ v: child, key: k, parent: node })
      }
    }
  }
  return undefined
}

/** A JSON body that may also be absent (actions whose fields are all optional): `{}` then. */
export const optionalJsonBody = async (c: Context): Promise<unknown> => {
  const length = c.req.header('content-length')
  const chunked = c.req.header('transfer-encoding')
  if (!c.req.header('content-type') && (length === undefined || length === '0') && !chunked) return {}
  if (length === '0') return {}
  return jsonBody(c)
}
