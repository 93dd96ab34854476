import { DEFAULT_BMC_SECRET_DIR as SECRET_DIR } from '@lazarus/api-contract'
import { controlAttributeTopology } from '@lazarus/contracts'

/**
 * What an operator should hear when registering a host the fencer could not fence: its
 * attributes do not parse (the fencer refuses them at every level), or name no fencing
 * device while the host's level (its `quick_evacuate_level` attribute, else the segment's)
 * powers it off. Masakari's docs register hosts with free text such as `SSH`; the host is
 * accepted as Masakari would, with this warning instead of silence.
 */
export const fencingWarning = (text: string | null, segmentLevel: number, host: string): string | undefined => {
  const split = controlAttributeTopology(text ?? '')
  if (split.kind === 'error') return `control_attributes: ${split.error}; the fencer will refuse to fence this host until it is fixed`
  const pairs = split.kind === 'topology' ? new Map(split.host) : new Map<string, string>()
  const own = pairs.get('quick_evacuate_level')
  const level = own === '1' || own === '2' || own === '3' ? Number(own) : segmentLevel
  const driver = pairs.get('driver')
  // A device of a fencing topology (level2.pdu-a.driver=…) is a fencing device too.
  const device = (driver !== undefined && driver !== 'none') || (split.kind === 'topology' && split.devices.length > 0)
  if (level < 2 || device) return undefined
  const name = /^[\x21-\x7e]{1,64}$/.test(host) ? host : '<host>'
  return (
    `control_attributes name no fencing device, so at quick_evacuate_level ${level} a failure of this host fails its fence and nothing is evacuated; ` +
    `set driver=redfish address=https://<bmc>/redfish/v1/Systems/<id> username=<user> password_file=${SECRET_DIR}${name} ` +
    `(or driver=ipmi / driver=fence_agent), or quick_evacuate_level=1`
  )
}

/** The response header that carries {@link fencingWarning}; the Masakari body stays as openstacksdk expects it. */
export const WARNING_HEADER = 'Lazarus-Warning'
