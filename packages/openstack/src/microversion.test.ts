import { describe, expect, it } from 'vitest'
import { faultMessage } from './errors.js'
import { atLeast, compareMicroversions, negotiateMicroversion } from './microversion.js'
import { parseVersionDocument } from './version-discovery.js'

describe('microversions', () => {
  it('orders numerically, not as text', () => {
    expect(compareMicroversions('2.9', '2.11')).toBeLessThan(0)
    expect(compareMicroversions('2.53', '2.53')).toBe(0)
    expect(atLeast('2.100', '2.93')).toBe(true)
  })

  it('takes the highest version both sides support', () => {
    expect(negotiateMicroversion({ min: '2.1', max: '2.93' }, '2.93')).toBe('2.93')
    expect(negotiateMicroversion({ min: '2.1', max: '2.104' }, '2.93')).toBe('2.93')
    expect(negotiateMicroversion({ min: '2.1', max: '2.60' }, '2.93')).toBe('2.60')
    expect(negotiateMicroversion({ min: '2.1', max: '2.93' }, '2.11')).toBe('2.11')
    expect(negotiateMicroversion({ min: '', max: '' }, '2.93')).toBe('2.1')
    expect(() => negotiateMicroversion({ min: '2.60', max: '2.93' }, '2.53')).toThrow(/no common compute microversion/)
  })

  it('reads versioned and unversioned version documents', () => {
    expect(parseVersionDocument({ version: { id: 'v2.1', version: '2.93', min_version: '2.1' } }, 'x')).toEqual({ min: '2.1', max: '2.93' })
    expect(
      parseVersionDocument(
        {
          versions: [
            { id: 'v2.0', status: 'SUPPORTED', version: '', min_version: '' },
            { id: 'v2.1', status: 'CURRENT', version: '2.90', min_version: '2.1' },
          ],
        },
        'x',
      ),
    ).toEqual({ min: '2.1', max: '2.90' })
  })

  it("finds Nova's message in its fault bodies", () => {
    expect(faultMessage({ badRequest: { code: 400, message: 'Compute service of c1 is still in use.' } }, 'x')).toBe('Compute service of c1 is still in use.')
    expect(faultMessage({ error: { code: 401, message: 'The request you have made requires authentication.' } }, 'x')).toMatch(/requires authentication/)
    expect(faultMessage('<html>bad gateway</html>', 'x')).toBe('<html>bad gateway</html>')
    expect(faultMessage(null, 'Conflict')).toBe('Conflict')
  })
})
