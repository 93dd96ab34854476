/**
 * oslo.policy check strings, the subset Masakari's defaults and usual policy files use:
 * `@` (always), `!` (never), an empty string (always), `role:x`, `rule:name`,
 * `is_admin:True`, `project_id:%(project_id)s` (any `key:%(attr)s` or `key:literal`),
 * `not`, `and`, `or` (that precedence) and parentheses. Pure: parse once at load, evaluate
 * per request.
 */

export type Check =
  | { kind: 'always' }
  | { kind: 'never' }
  | { kind: 'role'; role: string }
  | { kind: 'rule'; name: string }
  /** `key:%(attr)s` (target attribute) or `key:literal` compared with the caller's `key`. */
  | { kind: 'generic'; key: string; target?: string; literal?: string | boolean }
  | { kind: 'not'; check: Check }
  | { kind: 'and'; checks: Check[] }
  | { kind: 'or'; checks: Check[] }

/** What the caller is: Keystone roles (or an API key's role), project and user. */
export interface Credentials {
  roles: ReadonlySet<string>
  project_id?: string | undefined
  user_id?: string | undefined
  is_admin: boolean
}

/** What the request is about: the project of the URL (or the caller's own). */
export interface Target {
  project_id?: string | undefined
}

export class CheckStringError extends Error {
  override readonly name = 'CheckStringError'
}

/** Split on spaces, then peel parentheses off each word's ends, as oslo.policy does (so `%(project_id)s` stays whole). */
const tokenize = (s: string): string[] => {
  const out: string[] = []
  for (let word of s.split(/\s+/).filter(Boolean)) {
    while (word.startsWith('(')) {
      out.push('(')
      word = word.slice(1)
    }
    let closing = 0
    while (word.endsWith(')') && !/%\([^)]*\)$/.test(word)) {
      closing += 1
      word = word.slice(0, -1)
    }
    if (word) out.push(word)
    for (let i = 0; i < closing; i++) out.push(')')
  }
  return out
}

/** Parse a check string. Throws CheckStringError naming what is wrong. */
export const parseCheckString = (source: string): Check => {
  const tokens = tokenize(source)
  if (tokens.length === 0) return { kind: 'always' }
  let i = 0
  const peek = () => tokens[i]
  const fail = (why: string): never => {
    throw new CheckStringError(`'${source}': ${why}`)
  }

  const atom = (): Check => {
    const t = tokens[i++]
    if (t === undefined) return fail('ends where a check was expected')
    if (t === '(') {
      const inner = or()
      if (tokens[i++] !== ')') fail('a parenthesis is not closed')
      return inner
    }
    if (t === ')' || t === 'and' || t === 'or') return fail(`'${t}' where a check was expected`)
    if (t === 'not') return { kind: 'not', check: atom() }
    if (t === '@') return { kind: 'always' }
    if (t === '!') return { kind: 'never' }
    const colon = t.indexOf(':')
    if (colon <= 0 || colon === t.length - 1) return fail(`'${t}' is not a check (kind:match, @ or !)`)
    const key = t.slice(0, colon)
    const match = t.slice(colon + 1)
    if (key === 'role') return { kind: 'role', role: match.toLowerCase() }
    if (key === 'rule') return { kind: 'rule', name: match }
    if (key === 'http' || key === 'https') return fail('http checks are not supported')
    const attr = /^%\(([A-Za-z_][\w.]*)\)s$/.exec(match)
    if (attr) return { kind: 'generic', key, target: attr[1] as string }
    if (match.includes('%(')) return fail(`'${match}' is not a %(attribute)s reference`)
    const quoted = /^(['"])(.*)\1$/.exec(match)
    return { kind: 'generic', key, literal: quoted ? (quoted[2] as string) : match === 'True' ? true : match === 'False' ? false : match }
  }
  const and = (): Check => {
    const checks = [atom()]
    while (peek() === 'and') {
      i += 1
      checks.push(atom())
    }
    return checks.length === 1 ? (checks[0] as Check) : { kind: 'and', checks }
  }
  const or = (): Check => {
    const checks = [and()]
    while (peek() === 'or') {
      i += 1
      checks.push(and())
    }
    return checks.length === 1 ? (checks[0] as Check) : { kind: 'or', checks }
  }

  const check = or()
  if (i < tokens.length) fail(`unexpected '${tokens[i]}'`)
  return check
}

/** Every `rule:name` a check refers to. */
export const referencedRules = (check: Check): string[] => {
  switch (check.kind) {
    case 'rule':
      return [check.name]
    case 'not':
      return referencedRules(check.check)
    case 'and':
    case 'or':
      return check.checks.flatMap(referencedRules)
    default:
      return []
  }
}

const credential = (creds: Credentials, key: string): unknown => {
  if (key === 'is_admin') return creds.is_admin
  if (key === 'project_id') return creds.project_id
  if (key === 'user_id') return creds.user_id
  return undefined
}

/**
 * Does the caller pass the check? `rules` resolves `rule:name` (a missing rule fails, as in
 * oslo.policy; policy loading refuses them and cycles beforehand).
 */
export const evaluate = (check: Check, rules: ReadonlyMap<string, Check>, creds: Credentials, target: Target, depth = 0): boolean => {
  if (depth > 50) return false
  switch (check.kind) {
    case 'always':
      return true
    case 'never':
      return false
    case 'role':
      for (const r of creds.roles) if (r.toLowerCase() === check.role) return true
      return false
    case 'rule': {
      const rule = rules.get(check.name)
      return rule !== undefined && evaluate(rule, rules, creds, target, depth + 1)
    }
    case 'generic': {
      const have = credential(creds, check.key)
      if (have === undefined || have === null) return false
      if (check.target !== undefined) {
        const want = (target as Record<string, unknown>)[check.target]
        return want !== undefined && want !== null && String(want) === String(have)
      }
      return typeof check.literal === 'boolean' ? have === check.literal : String(have) === check.literal
    }
    case 'not':
      return !evaluate(check.check, rules, creds, target, depth + 1)
    case 'and':
      return check.checks.every((c) => evaluate(c, rules, creds, target, depth + 1))
    case 'or':
      return check.checks.some((c) => evaluate(c, rules, creds, target, depth + 1))
  }
}
