/**
 * Microversions, as Masakari negotiates them: `OpenStack-API-Version: instance-ha X.Y`
 * (or `latest`); the api serves 1.0–1.3 and echoes the version on every answer.
 */
export const API_VERSION_HEADER = 'OpenStack-API-Version'
export const SERVICE_TYPE = 'instance-ha'
export const MIN_VERSION = '1.0'
export const MAX_VERSION = '1.3'
/** The header value the client sends: the latest version. */
export const MICROVERSION = `${SERVICE_TYPE} ${MAX_VERSION}`
/** The token header (a Keystone token, or the api's static key). */
export const AUTH_TOKEN_HEADER = 'X-Auth-Token'
