/** The few Masakari v1 calls the demo makes, over HTTP like any client. */
export interface NotificationView {
  notification_uuid: string
  status: string
  message?: string | null
  updated_at?: string | null
  recovery_workflow_details?: { name: string; state: string; progress: number; progress_details?: { timestamp: string; message: string; progress: number }[] }[]
}
export interface VmoveView {
  instance_uuid: string
  instance_name: string
  source_host: string
  dest_host: string | null
  status: string
  start_time: string | null
  end_time: string | null
}

export const createApiClient = (baseUrl: string) => {
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'OpenStack-API-Version': 'instance-ha 1.3' },
      body: body === undefined ? null : JSON.stringify(body),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`)
    return (text ? JSON.parse(text) : null) as T
  }
  return {
    createSegment: async (segment: Record<string, unknown>) =>
      (await call<{ segment: { uuid: string } }>('POST', '/v1/segments', { segment })).segment,
    createHost: async (segmentId: string, host: Record<string, unknown>) =>
      (await call<{ host: { uuid: string } }>('POST', `/v1/segments/${segmentId}/hosts`, { host })).host,
    notify: async (notification: Record<string, unknown>) =>
      (await call<{ notification: NotificationView }>('POST', '/v1/notifications', { notification })).notification,
    getNotification: async (id: string) =>
      (await call<{ notification: NotificationView }>('GET', `/v1/notifications/${id}`)).notification,
    listVmoves: async (id: string) => (await call<{ vmoves: VmoveView[] }>('GET', `/v1/notifications/${id}/vmoves`)).vmoves,
  }
}
