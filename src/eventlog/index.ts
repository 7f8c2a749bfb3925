/**
 * tidemark/eventlog: a crash-safe, group-committed, segmented log of signal
 * events. See docs/eventlog-format.md for the on-disk format.
 */
export { EventLog, type EventLogStats, type OpenResult } from './event-log.js';
export type { EventLogOptions } from './options.js';
export type { ReplayedEvent, SignalEvent } from './event.js';
export type { RecoveryReport, RepairReport } from './recovery.js';
export type { SyncMode } from './segment-writer.js';
export { crc32cBackend, type Crc32cBackend } from './crc32c.js';
export {
  EventLogClosedError,
  EventLogCorruptionError,
  EventLogError,
  EventLogLockedError,
  EventLogWriteError,
} from './errors.js';
