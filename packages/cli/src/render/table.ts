/** Display width of a string: code points, ignoring ANSI colour sequences. */
export const width = (s: string): number => [...s.replace(/\x1b\[[0-9;]*m/g, '')].length

const pad = (s: string, w: number) => s + ' '.repeat(Math.max(0, w - width(s)))

/**
 * A table for people: a header, a rule, rows, columns padded to their widest cell, cells
 * on one line (newlines in values become spaces).
 */
export const renderTable = (head: readonly string[], rows: readonly (readonly string[])[]): string => {
  const clean = (c: string | undefined) => (c ?? '').replace(/\s*\n\s*/g, ' ')
  const body = rows.map((r) => head.map((_, i) => clean(r[i])))
  const widths = head.map((h, i) => Math.max(width(h), ...body.map((r) => width(r[i] ?? ''))))
  const line = (cells: readonly string[]) => cells.map((c, i) => pad(c, widths[i] ?? 0)).join('  ').trimEnd()
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n')
}

/** One record as `key  value` lines, keys padded to the longest. */
export const renderRecord = (fields: readonly (readonly [string, string])[]): string => {
  const w = Math.max(0, ...fields.map(([k]) => width(k)))
  return fields.map(([k, v]) => `${pad(k, w)}  ${v}`.trimEnd()).join('\n')
}
