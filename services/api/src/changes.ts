import { EventEmitter } from 'node:events'

/** In-process signal that a notification changed (after commit), for SSE streams. */
export interface Changes {
  emit(notificationUuid: string): void
  on(notificationUuid: string, listener: () => void): () => void
}

export const createChanges = (): Changes => {
  const emitter = new EventEmitter()
  emitter.setMaxListeners(0)
  return {
    emit: (id) => void emitter.emit(id),
    on(id, listener) {
      emitter.on(id, listener)
      return () => void emitter.off(id, listener)
    },
  }
}
