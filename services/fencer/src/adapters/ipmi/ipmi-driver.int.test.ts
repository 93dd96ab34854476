import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { parseControlAttributes, type PowerSettings } from '../../domain/control-attributes.js'
import { testBmcSecretDir } from '../../testing/bmc-secrets.js'
import { PowerConfigError, PowerDeviceError } from '../power/power-driver.js'
import { freeUdpPort, ipmiSimAvailable, startIpmiSim, type IpmiSim } from '../../testing/ipmi-sim.js'
import { commandLinesWith, eventually } from '../../testing/processes.js'
import { createIpmiDriver, ipmitoolArgs, ipmiTarget, parsePowerStatus, type IpmiDriverOptions } from './index.js'

const settings = (text: string): PowerSettings => {
  const p = parseControlAttributes(text)
  if (!p.ok) throw new Error(p.error)
  return p.settings
}

const opts = (env: Record<string, string> = {}): IpmiDriverOptions => ({
  env,
  // The variables these tests set are the ones allowed (BMC_PASSWORD_ENV_ALLOW).
  passwordEnvAllow: Object.keys(env),
  secretDir: testBmcSecretDir(),
  requestTimeoutMs: 15_000,
})

describe('ipmi driver: attributes', () => {
  const target = (text: string) => ipmiTarget(settings(text), opts({ PW: 'pw' }))

  it('reads address, port, interface, cipher suite, privilege level and timeout', () => {
    expect(target('driver=ipmi address=10.0.0.7 port=6230 username=fence password_env=PW interface=lanplus cipher_suite=3 privilege_level=operator timeout=4.5')).toEqual({
      address: '10.0.0.7',
      port: 6230,
      interface: 'lanplus',
      username: 'fence',
      password: 'pw',
      cipherSuite: 3,
      privilegeLevel: 'OPERATOR',
      timeoutMs: 4500,
    })
    expect(target('driver=ipmi address=bmc-07.example')).toMatchObject({ port: 623, interface: 'lanplus', timeoutMs: 15_000, password: undefined })
  })

  it.each([
    ['driver=ipmi', /needs control attribute "address"/],
    ['driver=ipmi address=-oProxyCommand=x', /"address" is not a host name/],
    ['driver=ipmi address=bmc port=70000', /"port" must be a UDP port/],
    ['driver=ipmi address=bmc interface=serial', /"interface" must be lanplus or lan/],
    ['driver=ipmi address=bmc interface=lan cipher_suite=3', /"cipher_suite" applies to interface=lanplus only/],
    ['driver=ipmi address=bmc cipher_suite=99', /"cipher_suite" must be an IPMI cipher suite id/],
    ['driver=ipmi address=bmc privilege_level=root', /"privilege_level" must be/],
    ['driver=ipmi address=bmc timeout=soon', /"timeout" must be seconds/],
    ['driver=ipmi address=bmc ipport=623', /"ipport" is not known to the ipmi driver/],
    ['driver=ipmi address=bmc password_env=UNSET_VARIABLE', /"password_env": UNSET_VARIABLE is not an allowed BMC password variable/],
    ['driver=ipmi address=bmc password=hunter2', /"password": a BMC password written in the control attributes is refused/],
  ])('rejects %s', (text, message) => {
    expect(() => target(text)).toThrow(PowerConfigError)
    expect(() => target(text)).toThrow(message)
  })

  it('never puts the password on the command line', () => {
    const t = ipmiTarget(settings('driver=ipmi address=bmc username=fence password_env=PW'), opts({ PW: 'hunter2hunter2' }))
    const args = ipmitoolArgs(t, 'off')
    expect(args).toEqual(['-v', '-I', 'lanplus', '-H', 'bmc', '-p', '623', '-U', 'fence', '-E', 'chassis', 'power', 'off'])
    expect(args.join(' ')).not.toContain('hunter2')
  })

  it('reads ipmitool status lines', () => {
    expect(parsePowerStatus('Chassis Power is on\n')).toBe('on')
    expect(parsePowerStatus('Chassis Power is off\n')).toBe('off')
    expect(parsePowerStatus('Chassis Power is in a strange state\n')).toBe('unknown')
  })

  it('refuses to start without ipmitool', () => {
    expect(() => createIpmiDriver(settings('driver=ipmi address=bmc'), { ...opts(), ipmitoolPath: '/nonexistent/ipmitool' })).toThrow(
      /ipmitool, not found or not executable at \/nonexistent\/ipmitool/,
    )
  })
})

describe.skipIf(!ipmiSimAvailable())('ipmi driver against ipmi_sim (skipped when openipmi or ipmitool is not installed)', () => {
  let sim: IpmiSim

  beforeAll(async () => {
    sim = await startIpmiSim()
  })
  afterAll(async () => {
    await sim?.stop()
  })
  beforeEach(() => {
    sim.reset()
  })

  const driver = (extra = 'cipher_suite=3', password = sim.password) =>
    createIpmiDriver(settings(`driver=ipmi address=${sim.host} port=${sim.port} username=${sim.username} password_env=BMC_PASS ${extra}`), opts({ BMC_PASS: password }))

  it('reads on, powers off, reads off; the BMC gets exactly one power-off', async () => {
    const d = driver()
    await expect(d.status()).resolves.toBe('on')
    await d.powerOff()
    await expect(d.status()).resolves.toBe('off')
    expect(sim.power()).toBe('off')
    expect(sim.actions()).toEqual(['off'])
  })

  it('powers a host back on', async () => {
    sim.setPower('off')
    const d = driver()
    await expect(d.status()).resolves.toBe('off')
    await d.powerOn()
    await expect(d.status()).resolves.toBe('on')
    expect(sim.actions()).toEqual(['on'])
  })

  it.each([
    ['IPMI 1.5 (interface=lan)', 'interface=lan'],
    ['privilege level operator', 'cipher_suite=3 privilege_level=operator'],
  ])('works with %s', async (_, extra) => {
    const d = driver(extra)
    await expect(d.status()).resolves.toBe('on')
    await d.powerOff()
    await expect(d.status()).resolves.toBe('off')
    expect(sim.actions()).toEqual(['off'])
  })

  it('reports a BMC that accepts power-off but never goes off as still on', async () => {
    sim.setMode('never-off')
    const d = driver()
    await d.powerOff()
    await expect(d.status()).resolves.toBe('on')
    await expect(d.status()).resolves.toBe('on')
    expect(sim.actions()).toEqual(['off'])
  })

  it('fails a BMC that stops answering within its timeout, names it, kills ipmitool, and keeps the password out of ps', async () => {
    sim.freeze()
    const d = driver('cipher_suite=3 timeout=2')
    const started = Date.now()
    const call = d.powerOff().then(
      () => undefined,
      (e: unknown) => e,
    )
    // While ipmitool waits on the BMC, its command line is visible to everyone: no password there.
    expect(await eventually(() => commandLinesWith(`-p ${sim.port} `).some((l) => l.includes('ipmitool')))).toBe(true)
    expect(commandLinesWith(`-p ${sim.port} `).join('\n')).not.toContain(sim.password)
    const err = await call
    const elapsed = Date.now() - started
    expect(err).toBeInstanceOf(PowerDeviceError)
    expect((err as Error).message).toContain(`BMC 127.0.0.1:${sim.port} did not answer ipmitool chassis power off within 2 s`)
    expect(elapsed).toBeGreaterThanOrEqual(1_900)
    expect(elapsed).toBeLessThan(2_000 + 5_000) // a slow machine may be slow to kill, not slower than this
    expect(await eventually(() => commandLinesWith(`-p ${sim.port} `).length === 0, 2_000)).toBe(true)
    sim.thaw()
    expect(sim.actions()).toEqual([])
  })

  it('fails a BMC address where nothing listens within its timeout', async () => {
    const port = await freeUdpPort()
    const d = createIpmiDriver(settings(`driver=ipmi address=127.0.0.1 port=${port} username=admin password_env=PW timeout=1.5`), opts({ PW: 'x' }))
    const started = Date.now()
    await expect(d.status()).rejects.toThrow(`BMC 127.0.0.1:${port} did not answer ipmitool chassis power status within 1.5 s`)
    expect(Date.now() - started).toBeLessThan(1_500 + 5_000)
  })

  it('says the login was refused for a wrong password, without the password', async () => {
    const d = driver('cipher_suite=3', 'not-the-password')
    const err = await d.status().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PowerDeviceError)
    expect((err as Error).message).toMatch(new RegExp(`^BMC 127\\.0\\.0\\.1:${sim.port} refused the login of user "admin": wrong username or password`))
    expect((err as Error).message).not.toContain('not-the-password')
    expect(sim.actions()).toEqual([])
  })

  it('says the login was refused for a wrong password over IPMI 1.5 too', async () => {
    await expect(driver('interface=lan', 'not-the-password').powerOff()).rejects.toThrow(/refused the login of user "admin": wrong username or password/)
    expect(sim.actions()).toEqual([])
  })

  it('says the login was refused for an unknown user', async () => {
    const d = createIpmiDriver(settings(`driver=ipmi address=${sim.host} port=${sim.port} username=intruder password_env=P cipher_suite=3`), opts({ P: sim.password }))
    await expect(d.status()).rejects.toThrow(/refused the login of user "intruder"/)
  })
})
