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
      levels: [
        {
          level: 1,
          devices: [
            {
              level: 1,
              name: 'default',
              prefix: '',
              attempts: 1,
              attemptTimeoutMs: undefined,
              settings: {
                driver: 'redfish',
                address: 'https://127.0.0.1:8000/redfish/v1/Systems/compute-01',
                username: 'admin',
                password: { from: 'file', path: '/etc/lazarus/bmc/c1' },
                verifyTls: true,
                options: {},
              },
            },
          ],
        },
      ],
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

describe('parseControlAttributes: fencing topology', () => {
  const topology = [
    'driver=redfish address=https://bmc-07/redfish/v1/Systems/1 username=fence password_file=/etc/lazarus/bmc/bmc-07 attempts=2 attempt_timeout=20',
    'level2.pdu-a.driver=fence_agent level2.pdu-a.agent=fence_apc_snmp level2.pdu-a.ip=pdu-a level2.pdu-a.plug=7 level2.pdu-a.password_file=/etc/lazarus/bmc/pdu',
    'level2.pdu-b.driver=fence_agent level2.pdu-b.agent=fence_apc_snmp level2.pdu-b.ip=pdu-b level2.pdu-b.plug=7 level2.pdu-b.password_file=/etc/lazarus/bmc/pdu',
    'level3.spare.driver=ipmi level3.spare.address=10.0.0.9 level3.spare.timeout=2',
  ].join(' ')

  it('given the un-prefixed device and prefixed levels, when parsed, then level 1 is the un-prefixed device and the levels come in order', () => {
    const s = ok(topology)
    expect(s.levels.map((l) => [l.level, l.devices.map((d) => d.name)])).toEqual([
      [1, ['default']],
      [2, ['pdu-a', 'pdu-b']],
      [3, ['spare']],
    ])
    expect(s.levels[0]?.devices[0]).toMatchObject({ attempts: 2, attemptTimeoutMs: 20_000, settings: { driver: 'redfish', options: {} } })
    expect(s.levels[1]?.devices[1]).toMatchObject({
      prefix: 'level2.pdu-b.',
      attempts: 1,
      settings: {
        driver: 'fence_agent',
        address: undefined,
        password: { from: 'file', path: '/etc/lazarus/bmc/pdu' },
        options: { agent: 'fence_apc_snmp', ip: 'pdu-b', plug: '7' },
      },
    })
    // A driver's own option (ipmi's timeout per ipmitool run) stays the driver's.
    expect(s.levels[2]?.devices[0]?.settings.options).toEqual({ timeout: '2' })
  })

  it('given only prefixed devices, when parsed, then levels start where they are written', () => {
    const s = ok('quick_evacuate_level=3 level2.pdu.driver=fence_agent level2.pdu.agent=fence_apc level1.bmc.driver=ipmi level1.bmc.address=b')
    expect(s.quickEvacuateLevel).toBe(3)
    expect(s.driver).toBeUndefined()
    expect(s.levels.map((l) => [l.level, l.devices.map((d) => d.name)])).toEqual([
      [1, ['bmc']],
      [2, ['pdu']],
    ])
  })

  it('given a single device, driver=none or no device, when parsed, then the levels say so', () => {
    expect(ok('driver=ipmi address=b').levels).toHaveLength(1)
    expect(ok('driver=none').levels).toEqual([])
    expect(ok('SSH').levels).toEqual([])
    expect(ok('').levels).toEqual([])
  })

  it('given a password in clear in a prefixed device, when parsed, then it is marked under its full key and its value is not kept', () => {
    const s = ok('level2.pdu.driver=fence_agent level2.pdu.password=hunter2')
    expect(s.levels[0]?.devices[0]?.settings.password).toEqual({ from: 'inline', key: 'level2.pdu.password' })
    expect(JSON.stringify(s)).not.toContain('hunter2')
  })

  it.each([
    ['driver=ipmi address=b level1.x.driver=ipmi', /"level1\.x\.driver": level 1 is the un-prefixed device/],
    ['level2.pdu.agent=fence_apc', /"level2\.pdu\.driver" is missing/],
    ['level2.pdu.driver=none', /"level2\.pdu\.driver": none switches no power/],
    ['level2.pdu.driver=ipmi level2.pdu.driver=ipmi', /"level2\.pdu\.driver" is given twice/],
    ['level2.pdu.driver=ipmi level2.pdu.attempts=0', /"level2\.pdu\.attempts" must be a number of tries from 1 to 10/],
    ['level2.pdu.driver=ipmi level2.pdu.attempt_timeout=soon', /"level2\.pdu\.attempt_timeout" must be seconds/],
    ['level2.pdu.driver=ipmi level2.pdu.password_env=A level2.pdu.password_file=/x', /"level2\.pdu\.password_env" and "level2\.pdu\.password_file" are exclusive/],
    ['level2.pdu.driver=ipmi level2.pdu.verify_tls=maybe', /"level2\.pdu\.verify_tls" must be true or false/],
    ['level2.pdu.driver=ipmi level2.pdu.quick_evacuate_level=1', /"level2\.pdu\.quick_evacuate_level": quick_evacuate_level is a host setting/],
    ['level0.pdu.driver=ipmi', /"level0\.pdu\.driver" is neither a key nor level<1-9>\.<device>\.<key>/],
    ['pdu.driver=ipmi', /"pdu\.driver" is neither/],
    ['address=b level2.pdu.driver=ipmi', /"address" belongs to no device/],
    ['attempts=3 driver=ipmi address=b', undefined],
    [Array.from({ length: 11 }, (_, i) => `level${(i % 9) + 1}.d${i}.driver=ipmi`).join(' '), /name 11 fencing devices: at most 10/],
  ])('given %j, when parsed, then the attribute at fault is named', (text, message) => {
    if (message === undefined) expect(ok(text).levels[0]?.devices[0]?.attempts).toBe(3)
    else expect(error(text)).toMatch(message)
  })
})

describe('parseControlAttributes: kdump', () => {
  it("given kdump=true and its address, when parsed, then the host waits for its dump; the keys are not the driver's", () => {
    const s = ok('driver=ipmi address=b kdump=true kdump_address=10.0.0.7')
    expect(s.kdump).toEqual({ address: '10.0.0.7' })
    expect(s.options).toEqual({})
    expect(ok('driver=ipmi address=b kdump=false').kdump).toBeUndefined()
    expect(ok('driver=ipmi address=b kdump=true kdump_address=FD00::7').kdump).toEqual({ address: 'fd00::7' })
  })

  it.each([
    ['kdump=true', /"kdump_address" is missing/],
    ['kdump=maybe', /"kdump" must be true or false/],
    ['kdump=true kdump_address=host-07', /"kdump_address" must be an IP address/],
    ['kdump_address=10.0.0.7', /"kdump_address" is given without kdump=true/],
    ['level2.pdu.driver=ipmi level2.pdu.kdump=true', /"level2\.pdu\.kdump": kdump is a host setting/],
  ])('given %j, when parsed, then the attribute at fault is named', (text, message) => {
    expect(error(text)).toMatch(message)
  })
})
