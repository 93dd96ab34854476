/** One test case of a pytest `--junitxml` report. */
export interface JunitCase {
  classname: string
  name: string
  time: number
  outcome: 'passed' | 'failed' | 'error' | 'skipped'
  /** The failure, error or skip message, first line. */
  message: string
}

const attr = (tag: string, name: string): string => {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag)
  return m ? unescapeXml(m[1]!) : ''
}

const unescapeXml = (s: string): string =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#10;/g, '\n')
    .replace(/&amp;/g, '&')

/**
 * The test cases of a JUnit XML report as pytest writes it: `<testcase classname name time>`,
 * self-closed when it passed, else holding a `<failure>`, `<error>` or `<skipped>` element.
 * pytest writes a failing teardown as a second `<testcase>` of the same name with an
 * `<error>`: that case then counts once, as the error.
 */
export const parseJunit = (xml: string): JunitCase[] => {
  const cases = new Map<string, JunitCase>()
  const re = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    const head = m[1]!
    const body = m[3] ?? ''
    const inner = /<(failure|error|skipped)\b([^>]*)/.exec(body)
    const outcome = (inner ? { failure: 'failed', error: 'error', skipped: 'skipped' }[inner[1] as 'failure' | 'error' | 'skipped'] : 'passed') as JunitCase['outcome']
    const c: JunitCase = {
      classname: attr(head, 'classname'),
      name: attr(head, 'name'),
      time: Number(attr(head, 'time')) || 0,
      outcome,
      message: inner ? (attr(inner[2]!, 'message').split('\n')[0] ?? '').slice(0, 300) : '',
    }
    const key = `${c.classname}.${c.name}`
    const seen = cases.get(key)
    if (!seen || (seen.outcome === 'passed' && c.outcome !== 'passed')) cases.set(key, c)
  }
  return [...cases.values()]
}
