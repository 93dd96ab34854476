import { setting } from '@lazarus/runtime'
import * as z from 'zod'

/** The detector's settings (env names: the keys in UPPER_SNAKE_CASE). */
export const DetectorConfig = z.object({
  /** RabbitMQ, e.g. amqp://user:pass@127.0.0.1:5672/%2f */
  amqpUrl: z.string({ error: 'required: the RabbitMQ URL, e.g. amqp://user:pass@rabbit:5672/vhost' }).min(1),
  /** Port of /healthz, /readyz and /metrics. */
  opsPort: setting.int(9101),
  /** How many handled notification ids are remembered for duplicate suppression. */
  seenNotificationsCapacity: setting.int(10_000, 1),
})
export type DetectorConfig = z.infer<typeof DetectorConfig>
