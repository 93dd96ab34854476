import { describe, expect, it } from 'vitest'
import { controlAttributePairs, inlineSecretAttribute, maskControlAttributes } from './control-attributes.js'
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
