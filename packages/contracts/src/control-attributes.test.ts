import { describe, expect, it } from 'vitest'
import { controlAttributePairs, controlAttributeTopology, inlineSecretAttribute, maskControlAttributes } from './control-attributes.js'
import { makeEvent } from './make-event.js'
import { HostSnapshot } from './model.js'

describe('control attributes: secrets', () => {
  it.each([
    ['driver=redfish username=u password=s3cret', 'driver=redfish username=u password=***'],
    ['PASSWORD="a b, c" x=1', 'PASSWORD=*** x=1'],
    ["passwd='q r' x=1", 'passwd=*** x=1'],
    ['password="unterminated and more', 'password=***'],
    ['a=1,password=p,b=2', 'a=1,password=***,b=2'],
    ['address=https://admin:s3cret@bmc/redfish/v1 username=u', 'address=https://admin:***@bmc/redfish/v1 username=u'],
    ['password_file=/etc/lazarus/bmc/h1 password_env=BMC_PW', 'password_file=/etc/lazarus/bmc/h1 password_env=BMC_PW'],
    ['SSH', 'SSH'],
    ['', ''],
    ['level2.pdu-a.password=s3cret level2.pdu-a.driver=x', 'level2.pdu-a.password=*** level2.pdu-a.driver=x'],
    ['driver=ipmi,LEVEL3.b.Passwd="p q"', 'driver=ipmi,LEVEL3.b.Passwd=***'],
    ['level2.pdu.password_file=/etc/lazarus/bmc/p', 'level2.pdu.password_file=/etc/lazarus/bmc/p'],
  ])('masks %j', (text, masked) => {
    expect(maskControlAttributes(text)).toBe(masked)
    expect(maskControlAttributes(masked)).toBe(masked)
  })

  it('names the attribute that holds a secret in clear', () => {
    expect(inlineSecretAttribute('driver=redfish Password=x')).toBe('password')
    expect(inlineSecretAttribute('passwd=x')).toBe('passwd')
    expect(inlineSecretAttribute('address=https://u:p@bmc')).toBe('address')
    expect(inlineSecretAttribute('address=https://u@bmc password_file=/etc/lazarus/bmc/x')).toBeUndefined()
    expect(inlineSecretAttribute('SSH')).toBeUndefined()
    expect(inlineSecretAttribute('driver=ipmi level2.pdu-a.password=x')).toBe('level2.pdu-a.password')
    expect(inlineSecretAttribute('level3.b.ip=https://u:p@pdu')).toBe('level3.b.ip')
    expect(inlineSecretAttribute('level2.pdu.password_file=/etc/lazarus/bmc/p')).toBeUndefined()
  })

  it('splits a fencing topology into host keys and devices by level', () => {
    expect(controlAttributeTopology('driver=ipmi level3.x.driver=a level2.b.driver=c level2.b.plug=1 quick_evacuate_level=2')).toEqual({
      kind: 'topology',
      host: [
        ['driver', 'ipmi'],
        ['quick_evacuate_level', '2'],
      ],
      devices: [
        {
          level: 2,
          device: 'b',
          pairs: [
            ['driver', 'c'],
            ['plug', '1'],
          ],
        },
        { level: 3, device: 'x', pairs: [['driver', 'a']] },
      ],
    })
    expect(controlAttributeTopology('SSH')).toEqual({ kind: 'free_text' })
    expect(controlAttributeTopology('a.b=1')).toEqual({ kind: 'error', error: 'control attribute "a.b" is neither a key nor level<1-9>.<device>.<key>' })
    expect(controlAttributeTopology('level10.b.driver=1').kind).toBe('error')
  })

  it('tells key=value text from free text and from faulty text', () => {
    expect(controlAttributePairs('Driver=redfish, address="a b"')).toEqual({
      kind: 'pairs',
      pairs: [
        ['driver', 'redfish'],
        ['address', 'a b'],
      ],
    })
    expect(controlAttributePairs('SSH')).toEqual({ kind: 'free_text' })
    expect(controlAttributePairs('')).toEqual({ kind: 'pairs', pairs: [] })
    expect(controlAttributePairs('driver=redfish SSH')).toEqual({ kind: 'error', error: 'control attribute "SSH" is not key=value' })
  })

  it('masks a host snapshot on reading and every event on publishing', () => {
    const host = {
      id: '00000000-0000-4000-8000-000000000001',
      name: 'h',
      type: 'COMPUTE',
      controlAttributes: 'driver=redfish password=s3cret',
      reserved: false,
      onMaintenance: false,
    }
    expect(HostSnapshot.parse(host).controlAttributes).toBe('driver=redfish password=***')
    const e = makeEvent({
      type: 'host.fence_failed.v1',
      correlationId: 'n',
      source: 'test',
      payload: {
        notificationId: 'n',
        host,
        segment: { id: '00000000-0000-4000-8000-000000000002', name: 's', recoveryMethod: 'auto', serviceType: 'compute', enabled: true, quickEvacuateLevel: 2 },
        reason: 'r',
      },
    })
    expect(JSON.stringify(e)).not.toContain('s3cret')
    expect(host.controlAttributes).toBe('driver=redfish password=s3cret') // the caller's object is left alone
  })
})
