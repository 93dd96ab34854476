import { DEFAULT_MAX_FUTURE_SKEW_S, futureTimeReason, NotificationDraft, NotificationHostname, type NotificationEvent, type NotificationType } from '@lazarus/contracts'
import type { Field, MappingRules } from './rules.js'

/**
 * What became of one external event:
 * - `notification`: post it to the api;
 * - `skip`: understood, and nothing to recover (a VM that recovered by itself);
 * - `reject`: it does not map or does not validate; dead-letter it with `reason`.
 */
export type MapResult = { kind: 'notification'; notification: NotificationDraft } | { kind: 'skip'; reason: string } | { kind: 'reject'; reason: string }

export interface MapOptions {
  /** The event's time when the rules find none in it: the broker's timestamp, stable across redeliveries. */
  fallbackTime?: Date | undefined
  /** The event's time whatever the rules say (an Alertmanager alert: startsAt, or endsAt once resolved). */
  time?: string | undefined
  /**
   * The receiver's clock: an event time more than `maxFutureSkewS` (default 300) ahead of it
   * is rejected (the contracts' `futureTimeReason`, the rule the api applies too). Given by
   * the caller, so that the mapping stays pure; without it the time is not bounded.
   */
  now?: Date | undefined
  maxFutureSkewS?: number | undefined
}

const reject = (reason: string): MapResult => ({ kind: 'reject', reason })

/**
 * Map one external event to a notification. Pure: the same event, rules and options
 * give the same notification, so a redelivered event is a duplicate the api detects.
 */
export const mapEvent = (rules: MappingRules, event: unknown, opts: MapOptions = {}): MapResult => {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    return reject(`the event is not a JSON object (${event === null ? 'null' : Array.isArray(event) ? 'array' : typeof event})`)
  }
  const ev = event as Record<string, unknown>

  const eventType = firstText(ev, rules.eventType.from)
  if (eventType === undefined) return reject(`no event type at ${rules.eventType.from.join(', ')}`)
  const type = typeOf(rules, eventType)
  if (!type) {
    return reject(`event type ${JSON.stringify(eventType)} is not mapped: not in computeHost.eventTypes, vm.eventTypes or process.eventTypes`)
  }

  const rawHost = firstText(ev, rules.host.from)
  if (rawHost === undefined) return reject(`no host name at ${rules.host.from.join(', ')}`)
  let hostname = rawHost
  if (rules.host.pattern) {
    const m = new RegExp(rules.host.pattern).exec(rawHost)
    if (!m) return reject(`host ${JSON.stringify(rawHost)} does not match host.pattern ${rules.host.pattern}`)
    hostname = m[1] ?? m[0]
  }
  const host = NotificationHostname.safeParse(hostname)
  if (!host.success) return reject(`host name ${JSON.stringify(hostname)} is not valid: ${host.error.issues[0]?.message ?? 'invalid'}`)

  const rawState = firstText(ev, rules.state.from)
  let state: NotificationEvent
  if (rawState === undefined) {
    if (!rules.state.default) return reject(`no state at ${rules.state.from.join(', ')}`)
    state = rules.state.default
  } else if (includes(rules.state.stopped, rawState)) {
    state = 'STOPPED'
  } else if (includes(rules.state.started, rawState)) {
    state = 'STARTED'
  } else {
    return reject(`state ${JSON.stringify(rawState)} is neither in state.stopped nor in state.started`)
  }

  let time: Date | undefined
  if (opts.time !== undefined) {
    time = parseTime(opts.time)
    if (!time) return reject(`time ${JSON.stringify(opts.time)} is not a date-time`)
  } else {
    const found = firstTime(ev, rules.time.from)
    if (found && 'invalid' in found) return reject(`time ${JSON.stringify(found.invalid)} at ${found.path} is not a date-time`)
    time = found?.time ?? opts.fallbackTime
    if (!time) return reject(`no time at ${rules.time.from.join(', ')}`)
  }
  if (opts.now) {
    const ahead = futureTimeReason(time, opts.now, opts.maxFutureSkewS ?? DEFAULT_MAX_FUTURE_SKEW_S)
    if (ahead) return reject(`generated_time ${ahead}`)
  }

  let payload: Record<string, string>
  if (type === 'COMPUTE_HOST') {
    payload =
      state === 'STOPPED'
        ? { event: 'STOPPED', host_status: (field(ev, rules.computeHost.hostStatus) ?? 'UNKNOWN').toUpperCase(), cluster_status: 'OFFLINE' }
        : { event: 'STARTED', host_status: 'NORMAL', cluster_status: 'ONLINE' }
  } else if (type === 'PROCESS') {
    const processName = field(ev, rules.process.processName)
    if (processName === undefined) return reject(`no process name at ${rules.process.processName.from.join(', ')}`)
    payload = { process_name: processName, event: state }
  } else {
    if (state === 'STARTED') return { kind: 'skip', reason: `VM event ${JSON.stringify(eventType)} reports a recovery: nothing to do` }
    const instanceUuid = field(ev, rules.vm.instanceUuid)
    if (instanceUuid === undefined) return reject(`no instance uuid at ${rules.vm.instanceUuid.from.join(', ')}`)
    const virDomainEvent = field(ev, rules.vm.virDomainEvent)
    const vmEvent = field(ev, rules.vm.event)
    if (virDomainEvent === undefined) return reject(`no vir_domain_event at ${rules.vm.virDomainEvent.from.join(', ')}`)
    if (vmEvent === undefined) return reject(`no VM event at ${rules.vm.event.from.join(', ')}`)
    payload = { instance_uuid: instanceUuid, vir_domain_event: virDomainEvent, event: vmEvent }
  }

  const draft = NotificationDraft.safeParse({ type, hostname: host.data, generated_time: time.toISOString(), payload })
  if (!draft.success) {
    const issues = draft.error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ')
    return reject(`the mapped ${type} notification is not valid: ${issues}`)
  }
  return { kind: 'notification', notification: draft.data }
}

const typeOf = (rules: MappingRules, eventType: string): NotificationType | undefined => {
  if (includes(rules.computeHost.eventTypes, eventType)) return 'COMPUTE_HOST'
  if (includes(rules.vm.eventTypes, eventType)) return 'VM'
  if (includes(rules.process.eventTypes, eventType)) return 'PROCESS'
  return undefined
}

const includes = (list: readonly string[], value: string): boolean => {
  const v = value.toLowerCase()
  return list.some((x) => x.toLowerCase() === v)
}

/**
 * The value at `path`: `labels.instance` is `ev.labels.instance`; a key that itself
 * holds dots (`labels.kubernetes.io/hostname`) is found too, the longest key first.
 */
export const valueAt = (obj: unknown, path: string): unknown => {
  if (typeof obj !== 'object' || obj === null) return undefined
  const o = obj as Record<string, unknown>
  if (Object.hasOwn(o, path)) return o[path]
  for (let i = path.lastIndexOf('.'); i > 0; i = path.lastIndexOf('.', i - 1)) {
    const head = path.slice(0, i)
    if (Object.hasOwn(o, head)) {
      const v = valueAt(o[head], path.slice(i + 1))
      if (v !== undefined) return v
    }
  }
  return undefined
}

const firstText = (ev: Record<string, unknown>, paths: readonly string[]): string | undefined => {
  for (const p of paths) {
    const v = valueAt(ev, p)
    if (typeof v === 'string' && v.trim() !== '') return v.trim()
    if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  }
  return undefined
}

const field = (ev: Record<string, unknown>, f: Field): string | undefined => firstText(ev, f.from) ?? f.default

const firstTime = (ev: Record<string, unknown>, paths: readonly string[]): { time: Date } | { invalid: unknown; path: string } | undefined => {
  for (const path of paths) {
    const v = valueAt(ev, path)
    if (v === undefined || v === null || v === '') continue
    const time = parseTime(v)
    return time ? { time } : { invalid: v, path }
  }
  return undefined
}

/** ISO 8601 text (a time without an offset is UTC, as Masakari reads it) or epoch seconds/milliseconds. */
export const parseTime = (v: unknown): Date | undefined => {
  let d: Date | undefined
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) {
    d = new Date(v > 1e12 ? v : v * 1000)
  } else if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(v.trim())) {
    const text = v.trim().replace(' ', 'T')
    d = new Date(/(Z|z|[+-]\d{2}:?\d{2})$/.test(text) ? text : `${text}Z`)
  } else if (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v.trim())) {
    return parseTime(Number(v))
  }
  if (!d || Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1970) return undefined
  return d
}
