import { registerBusContract } from './bus-contract.js'
import { createInProcessBus } from './in-process.js'

registerBusContract('in-process', async (queues) => createInProcessBus({ queues }))
