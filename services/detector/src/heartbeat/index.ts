export * from './config.js'
export * from './tracker.js'
export * from './monitor.js'
export { createStorageReader, type StorageReader } from './storage-reader.js'
