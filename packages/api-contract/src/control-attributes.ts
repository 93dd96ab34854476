import { inlineSecretAttribute } from '@lazarus/contracts'

/** Where the fencer reads BMC password files by default (its BMC_SECRET_DIR setting). */
export const DEFAULT_BMC_SECRET_DIR = '/etc/lazarus/bmc/'

/**
 * Why `control_attributes` are refused, or undefined when they are not: a BMC password
 * written in clear would be stored in api_hosts, shown to every reader of hosts and carried
 * in every host event. Only a reference (`password_file=`) is accepted.
 */
export const controlAttributesRefusal = (text: string): string | undefined => {
  const key = inlineSecretAttribute(text)
  if (key === undefined) return undefined
  return (
    `"${key}" holds a BMC password in clear, which would be stored and shown; put the password in a file under the fencer's BMC_SECRET_DIR ` +
    `(${DEFAULT_BMC_SECRET_DIR} by default) and give password_file=${DEFAULT_BMC_SECRET_DIR}<host> instead`
  )
}
