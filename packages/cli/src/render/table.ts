import Table from 'cli-table3'

/**
 * Plain-text tables (cli-table3): columns separated by two spaces, no borders and no colour
 * codes, so pipes, logs and scripts get the same text a terminal shows.
 */

const NO_BORDERS = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '  ',
} as const

const STYLE = { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true }

/** cli-table3 pads the last column too. */
const trimLines = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')

/**
 * A table for people: a header, a rule under it, then the rows, columns as wide as their
 * widest cell, each cell on one line (newlines in values become spaces).
 */
export const renderTable = (head: readonly string[], rows: readonly (readonly string[])[]): string => {
  const clean = (c: string | undefined) => (c ?? '').replace(/\s*\n\s*/g, ' ')
  const table = new Table({ head: [...head], chars: { ...NO_BORDERS, mid: '-', 'mid-mid': '  ' }, style: STYLE })
  table.push(...rows.map((r) => head.map((_, i) => clean(r[i]))))
  return trimLines(table.toString())
}

/** One record as `key  value` lines, keys padded to the longest. */
export const renderRecord = (fields: readonly (readonly [string, string])[]): string => {
  const table = new Table({ chars: NO_BORDERS, style: STYLE })
  table.push(...fields.map(([k, v]) => [k, v]))
  return trimLines(table.toString())
}
