export { mapEvent, parseTime, valueAt, type MapOptions, type MapResult } from './map-event.js'
export { defaultMappingRules, MappingRules, MappingRulesError, parseMappingRules, type Field } from './rules.js'
export { AlertmanagerAlert, AlertmanagerWebhook, mapAlert, type AlertMapping } from './alertmanager.js'
