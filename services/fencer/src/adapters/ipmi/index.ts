export { createIpmiDriver, ipmiTarget, ipmitoolArgs, parsePowerStatus, DEFAULT_IPMITOOL, IPMI_OPTION_KEYS } from './ipmi-driver.js'
export type { IpmiDriverOptions, IpmiTarget } from './ipmi-driver.js'
