import { describe, expect, it } from 'vitest'
import { parseControlAttributes } from './control-attributes.js'

const ok = (text: string) => {
  const r = parseControlAttributes(text)
  if (!r.ok) throw new Error(r.error)
  return r.settings
}
const error = (text: string) => {
  const r = parseControlAttributes(text)
  if (r.ok) throw new Error(`expected an error for ${text}`)
  return r.error
}

describe('parseControlAttributes', () => {
  it('reads whitespace-separated redfish settings', () => {
    expect(ok('driver=redfish address=https://127.0.0.1:8000/redfish/v1/Systems/compute-01 username=admin password_file=/etc/lazarus/bmc/c1')).toEqual({
      driver: 'redfish',
      address: 'https://127.0.0.1:8000/redfish/v1/Systems/compute-01',
      username: 'admin',
      password: { from: 'file', path: '/etc/lazarus/bmc/c1' },
      verifyTls: true,
      quickEvacuateLevel: undefined,
      options: {},
      freeText: false,
    })
  })

  it('marks a password written in clear without keeping its value', () => {
    const s = ok('driver=redfish address=bmc password=hunter2')
    expect(s.password).toEqual({ from: 'inline', key: 'password' })
    expect(JSON.stringify(s)).not.toContain('hunter2')
  })

  it('reads free text without any key=value (Masakari docs: "SSH") as naming no device', () => {
    expect(ok('SSH')).toMatchObject({ driver: undefined, password: undefined, quickEvacuateLevel: undefined, options: {}, freeText: true })
    expect(ok('ssh via jump host')).toMatchObject({ driver: undefined, freeText: true })
  })

  it('accepts commas, newlines, quoted values and upper-case keys', () => {
    const s = ok('DRIVER=redfish,\n address=bmc-01 , username="ops admin", password=\'a,b c\', verify_tls=false, quick_evacuate_level=3')
    expect(s).toMatchObject({ driver: 'redfish', address: 'bmc-01', username: 'ops admin', verifyTls: false, quickEvacuateLevel: 3 })
    expect(s.password).toEqual({ from: 'inline', key: 'password' })
  })

  it('reads password_env and password_file references', () => {
    expect(ok('password_env=BMC_PW').password).toEqual({ from: 'env', name: 'BMC_PW' })
    expect(ok('password_file=/etc/lazarus/bmc').password).toEqual({ from: 'file', path: '/etc/lazarus/bmc' })
  })

  it('keeps driver-specific keys for the driver to check', () => {
    expect(ok('driver=fence_agent agent=fence_ipmilan lanplus=1').options).toEqual({ agent: 'fence_ipmilan', lanplus: '1' })
  })

  it('treats empty text as no settings', () => {
    expect(ok('  ')).toMatchObject({ driver: undefined, options: {} })
  })

  it.each([
    ['driver=redfish SSH', /"SSH" is not key=value/],
    ['driver=redfish driver=none', /"driver" is given twice/],
    ['quick_evacuate_level=4', /"quick_evacuate_level" must be 1, 2 or 3, not "4"/],
    ['verify_tls=maybe', /"verify_tls" must be true or false/],
    ['password=a password_env=B', /"password" and "password_env" are exclusive/],
    ['password_env=not-a-name', /"password_env" is not an environment variable name/],
    ['username=', /"username" has an empty value/],
    ['username="open', /"username" has an unterminated quote/],
    ['driver=Red/Fish', /"driver" has an invalid value/],
  ])('names the attribute at fault in %j', (text, message) => {
    expect(error(text)).toMatch(message)
  })

  it('never echoes a password in an error', () => {
    expect(error('password=hunter2 password_file=/x')).not.toContain('hunter2')
  })
})
