import { renderConfigurationReference } from '@lazarus/runtime'
import { SERVICES } from './services.js'

const INTRO = `# Configuration reference

<!-- Generated from the services' zod schemas by \`pnpm run docs:config\`
     (packages/cli/src/config/write-reference.ts); do not edit by hand. -->

Each service reads one INI file in oslo.config's style, \`/etc/lazarus/<service>.conf\`,
named by \`--config-file FILE\` on its command line or by \`LAZARUS_CONFIG_FILE\`. An environment
variable overrides the file's value for the same setting. Where a setting is one of Masakari's
it has Masakari's section and option name (\`[host_failure] evacuate_all_instances\`,
\`[DEFAULT] duplicate_notification_detection_interval\`, \`[database] connection\`).

- Options before any section header belong to \`[DEFAULT]\`. An unknown section or option stops
  the service (a misspelt option would otherwise keep its default silently).
- Values are text as in the environment: \`true\`/\`false\`, numbers, comma-separated lists, JSON
  where the description says so. An empty value leaves the setting unset.
- \`;\` and \`#\` start a comment anywhere on a line: quote a value that holds them
  (\`password = "pa#ss;word"\`) or escape them (\`\\#\`).
- \`lazarus config check FILE --service NAME\` validates a file without starting anything.
- Secrets: prefer the \`*_file\` settings over a password in the file where a service has
  one, and keep the file readable by the service's user only.

A *required* setting has no default: give it in the file or in the environment.
`

/** docs/configuration.md as the schemas describe it now. */
export const configurationReference = (): string => renderConfigurationReference(SERVICES, INTRO)
