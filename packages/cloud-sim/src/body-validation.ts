/**
 * A little of Nova's JSON-schema request validation, enough to refuse what Nova refuses with
 * Nova's wording: top-level errors read as the bare jsonschema message, nested ones as
 * "Invalid input for field/attribute <path>. Value: <value>. <message>".
 */

export type Check = (value: unknown) => string | undefined

export interface ObjectSpec {
  properties: Record<string, Check>
  required?: string[]
  /** Nova's schemas forbid unknown keys almost everywhere. */
  additionalProperties?: boolean
}

/** Python's repr of a JSON value, as jsonschema prints it. */
export const pyRepr = (v: unknown): string => {
  if (v === null || v === undefined) return 'None'
  if (v === true) return 'True'
  if (v === false) return 'False'
  if (typeof v === 'string') return `'${v}'`
  if (typeof v === 'number') return String(v)
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`
  return `{${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `'${k}': ${pyRepr(x)}`)
    .join(', ')}}`
}

export const isString =
  (o: { min?: number; max?: number } = {}): Check =>
  (v) => {
    if (typeof v !== 'string') return `${pyRepr(v)} is not of type 'string'`
    if (o.min !== undefined && v.length < o.min) return `${pyRepr(v)} is too short`
    if (o.max !== undefined && v.length > o.max) return `${pyRepr(v)} is too long`
    return undefined
  }

/** Nova's `parameter_types.boolean`: JSON booleans and the usual strings. */
export const isBooleanLike: Check = (v) =>
  typeof v === 'boolean' || (typeof v === 'string' && ['true', 'false', '1', '0', 'yes', 'no', 'on', 'off', 't', 'f', 'y', 'n'].includes(v.toLowerCase()))
    ? undefined
    : `${pyRepr(v)} is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']`

export const isBoolean: Check = (v) => (typeof v === 'boolean' ? undefined : `${pyRepr(v)} is not of type 'boolean'`)

export const isEnum =
  (values: string[]): Check =>
  (v) =>
    typeof v === 'string' && values.includes(v) ? undefined : `${pyRepr(v)} is not one of [${values.map(pyRepr).join(', ')}]`

export const isNullOr =
  (inner: Check): Check =>
  (v) =>
    v === null ? undefined : inner(v)

export const isObject =
  (spec: ObjectSpec): Check =>
  (v) => {
    const e = objectError(v, spec)
    return e?.message
  }

export const truthy = (v: unknown): boolean => v === true || (typeof v === 'string' && ['true', '1', 'yes', 'on', 't', 'y'].includes(v.toLowerCase()))

interface ObjectError {
  path: string[]
  message: string
  value: unknown
}

const objectError = (v: unknown, spec: ObjectSpec, path: string[] = []): ObjectError | undefined => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    return { path, message: `${pyRepr(v)} is not of type 'object'`, value: v }
  }
  const obj = v as Record<string, unknown>
  for (const key of spec.required ?? []) {
    if (!(key in obj)) return { path, message: `'${key}' is a required property`, value: v }
  }
  if (spec.additionalProperties === false || spec.additionalProperties === undefined) {
    const extras = Object.keys(obj)
      .filter((k) => !(k in spec.properties))
      .sort()
    if (extras.length > 0) {
      const list = extras.map((k) => `'${k}'`).join(', ')
      return { path, message: `Additional properties are not allowed (${list} ${extras.length === 1 ? 'was' : 'were'} unexpected)`, value: v }
    }
  }
  for (const [key, check] of Object.entries(spec.properties)) {
    if (!(key in obj)) continue
    const msg = check(obj[key])
    if (msg !== undefined) return { path: [...path, key], message: msg, value: obj[key] }
  }
  return undefined
}

/** The 400 message for a request body, or undefined when Nova would accept it. */
export const validateBody = (body: unknown, spec: ObjectSpec, pathPrefix: string[] = []): string | undefined => {
  const e = objectError(body, spec, pathPrefix)
  if (!e) return undefined
  if (e.path.length === 0) return e.message
  return `Invalid input for field/attribute ${e.path.join('.')}. Value: ${pyRepr(e.value)}. ${e.message}`
}
