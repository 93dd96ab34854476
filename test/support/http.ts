/** JSON over HTTP for the test harnesses: the api, cloud-sim's control API. */

export interface JsonResponse<T> {
  status: number
  body: T
}

/** One request with an optional JSON body; the answer parsed as JSON (its text if it is not). */
export const jsonCall = async <T = unknown>(base: string, method: string, path: string, body?: unknown): Promise<JsonResponse<T>> => {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  })
  const text = await res.text()
  let parsed: unknown = null
  try {
    parsed = text ? JSON.parse(text) : null
  } catch {
    parsed = text
  }
  return { status: res.status, body: parsed as T }
}

/** cloud-sim's control API at `simUrl`: the answer's body, or an error naming the call. */
export const simClient =
  (simUrl: string) =>
  async <T = unknown>(method: string, path: string, body?: unknown): Promise<T> => {
    const r = await jsonCall<T>(simUrl, method, path, body)
    if (r.status >= 300) throw new Error(`cloud-sim ${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`)
    return r.body
  }
