export { createDetectorService, type DetectorDeps, type DetectorService } from './service.js'
export { decideNotification, type Decision } from './domain/decide-notification.js'
export { createMemorySeenNotifications, type SeenNotifications } from './adapters/memory/seen-notifications.js'
