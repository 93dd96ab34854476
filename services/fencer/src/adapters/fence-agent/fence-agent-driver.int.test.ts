import { existsSync } from 'node:fs'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { parseControlAttributes, type PowerSettings } from '../../domain/control-attributes.js'
import { testBmcSecretDir } from '../../testing/bmc-secrets.js'
import { PowerConfigError, PowerDeviceError } from '../power/power-driver.js'
import { ipmiSimAvailable, startIpmiSim, type IpmiSim } from '../../testing/ipmi-sim.js'
import { commandLinesWith, eventually } from '../../testing/processes.js'
import { createFenceAgentDriver, fenceAgentCall, type FenceAgentDriverOptions } from './index.js'

const FENCE_IPMILAN = '/usr/sbin/fence_ipmilan'

const settings = (text: string): PowerSettings => {
  const p = parseControlAttributes(text)
  if (!p.ok) throw new Error(p.error)
  return p.settings
}

const opts = (env: Record<string, string> = {}): FenceAgentDriverOptions => ({
  env,
  // The variables these tests set are the ones allowed (BMC_PASSWORD_ENV_ALLOW).
  passwordEnvAllow: Object.keys(env),
  secretDir: testBmcSecretDir(),
  requestTimeoutMs: 10_000,
})

describe.skipIf(!existsSync(FENCE_IPMILAN))('fence agent driver: attributes (skipped without fence-agents)', () => {
  const call = (text: string) => fenceAgentCall(settings(text), opts({ BMC_PASS: 'pw' }))

  it('sends the action, ip, the agent options, username and password on stdin', () => {
    const c = call('driver=fence_agent agent=fence_ipmilan ip=10.0.0.7 ipport=6230 username=fence password_env=BMC_PASS lanplus=1 cipher=3')
    expect(c).toEqual({
      path: FENCE_IPMILAN,
      name: 'fence_ipmilan',
      lines: ['ip=10.0.0.7', 'ipport=6230', 'lanplus=1', 'cipher=3', 'username=fence', 'password=pw'],
      device: '10.0.0.7:6230',
      timeoutMs: 20_000,
      password: 'pw',
    })
  })

  it('takes address as ip, and agent_timeout in seconds', () => {
    expect(call('driver=fence_agent agent=fence_ipmilan address=bmc-07 agent_timeout=7.5')).toMatchObject({
      lines: ['ip=bmc-07'],
      device: 'bmc-07',
      timeoutMs: 7_500,
    })
  })

  it.each([
    ['driver=fence_agent', /needs control attribute "agent"/],
    ['driver=fence_agent agent=rm', /"rm" is not a fence agent name/],
    ['driver=fence_agent agent=../../bin/fence_x', /is not a fence agent name/],
    ['driver=fence_agent agent=fence_nonexistent', /fence_nonexistent is not installed in \/usr\/sbin or \/usr\/bin/],
    ['driver=fence_agent agent=fence_compute', /fence_compute cannot be a power driver/],
    ['driver=fence_agent agent=fence_ipmilan ipmitool_path=/bin/sh', /"ipmitool_path" may not be passed to a fence agent/],
    ['driver=fence_agent agent=fence_ipmilan password_script=/tmp/x', /"password_script" may not be passed/],
    ['driver=fence_agent agent=fence_ipmilan ssh_options=-oProxyCommand=x', /"ssh_options" may not be passed/],
    ['driver=fence_agent agent=fence_ipmilan action=reboot', /"action" may not be passed/],
    ['driver=fence_agent agent=fence_ipmilan passwd=x', /"passwd": a BMC password written in the control attributes is refused/],
    ['driver=fence_agent agent=fence_ipmilan address=a ip=b', /"address" and "ip" are the same/],
    ['driver=fence_agent agent=fence_ipmilan agent_timeout=0', /"agent_timeout" must be seconds/],
    ['driver=fence_agent agent=fence_ipmilan plug="x\nipmitool_path=/bin/sh"', /"plug" holds a line break/],
  ])('rejects %s', (text, message) => {
    expect(() => call(text)).toThrow(PowerConfigError)
    expect(() => call(text)).toThrow(message)
  })

  it('only runs agents from the allowed directories', () => {
    expect(() => fenceAgentCall(settings('driver=fence_agent agent=fence_ipmilan'), { ...opts(), agentDirs: ['/nonexistent'] })).toThrow(
      /fence_ipmilan is not installed in \/nonexistent/,
    )
  })
})

describe.skipIf(!ipmiSimAvailable() || !existsSync(FENCE_IPMILAN))(
  'fence agent driver: fence_ipmilan against ipmi_sim (skipped without openipmi, ipmitool or fence-agents)',
  () => {
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

    const driver = (extra = '', password = sim.password) =>
      createFenceAgentDriver(
        settings(`driver=fence_agent agent=fence_ipmilan ip=${sim.host} ipport=${sim.port} username=${sim.username} password_env=BMC_PASS lanplus=1 cipher=3 ${extra}`),
        opts({ BMC_PASS: password }),
      )

    it('reads on, powers off (the agent confirms), reads off; the BMC gets exactly one power-off', async () => {
      const d = driver()
      await expect(d.status()).resolves.toBe('on')
      await d.powerOff()
      expect(sim.power()).toBe('off')
      await expect(d.status()).resolves.toBe('off')
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

    it('sends nothing to a host that is already off', async () => {
      sim.setPower('off')
      await driver().powerOff()
      expect(sim.actions()).toEqual([])
    })

    it('fails power-off on a BMC that never goes off, which still reports on', async () => {
      sim.setMode('never-off')
      const d = driver('power_timeout=3')
      await expect(d.powerOff()).rejects.toThrow(/fence agent fence_ipmilan \(device 127\.0\.0\.1:\d+\): off failed \(exit 1\): .*Timed out waiting to power OFF/)
      await expect(d.status()).resolves.toBe('on')
      expect(sim.actions()).toEqual(['off'])
    })

    it('fails a BMC that stops answering within agent_timeout, names it, and leaves no agent or ipmitool behind', async () => {
      sim.freeze()
      const d = driver('agent_timeout=3')
      const started = Date.now()
      const call = d.status().then(
        () => undefined,
        (e: unknown) => e,
      )
      // the agent is running ipmitool against the frozen BMC
      expect(await eventually(() => commandLinesWith(`-p ${sim.port} `).some((l) => l.includes('ipmitool')), 5_000)).toBe(true)
      const err = await call
      const elapsed = Date.now() - started
      expect(err).toBeInstanceOf(PowerDeviceError)
      expect((err as Error).message).toContain(`fence agent fence_ipmilan (device 127.0.0.1:${sim.port}) did not finish status within 3 s (killed)`)
      expect(elapsed).toBeGreaterThanOrEqual(2_900)
      expect(elapsed).toBeLessThan(3_000 + 5_000)
      // killed with their group: gone once the kernel has finished them off
      const gone = () => commandLinesWith(`-p ${sim.port} `).length === 0 && commandLinesWith(FENCE_IPMILAN).length === 0
      expect(await eventually(gone, 2_000)).toBe(true)
    })

    it('fails a wrong password with the agent’s words, naming agent and device, without the password', async () => {
      const err = await driver('', 'not-the-password')
        .status()
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(PowerDeviceError)
      const message = (err as Error).message
      expect(message).toMatch(/^fence agent fence_ipmilan \(device 127\.0\.0\.1:\d+\): status failed \(exit 1\): .*Unable to obtain correct plug status/)
      expect(message).not.toContain('not-the-password')
    })

    it('says the login failed for a wrong password when the agent is verbose', async () => {
      const err = await driver('verbose=1', 'not-the-password')
        .powerOff()
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(PowerDeviceError)
      const message = (err as Error).message
      expect(message).toMatch(/^fence agent fence_ipmilan \(device 127\.0\.0\.1:\d+\): login to the device failed \(wrong username or password\?\) on off/)
      expect(message).toContain('Unable to establish IPMI v2 / RMCP+ session')
      expect(message).not.toContain('not-the-password')
      expect(sim.actions()).toEqual([])
    })
  },
)
