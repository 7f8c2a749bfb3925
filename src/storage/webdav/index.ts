/** The WebDAV replica backend (webdav:// over HTTP, webdavs:// over HTTPS). */
export {
  WebdavReplicaClient,
  WEBDAV_REPLICA_TYPE,
  WEBDAV_TMP_SUFFIX,
  WEBDAV_CONTENT_TYPE,
  WEBDAV_READ_RESUMES,
  DEFAULT_WEBDAV_IDLE_TIMEOUT_MS,
  DEFAULT_WEBDAV_MEMORY_UPLOAD_LIMIT,
  DEFAULT_WEBDAV_OPERATION_CONCURRENCY,
  DEFAULT_WEBDAV_KEEP_ALIVE_MS,
  type WebdavClientTuning,
} from './webdav-replica-client.js';
export { resolveWebdavSettings, describeWebdavReplica, type WebdavSettings } from './webdav-settings.js';
export { WebdavStorageError } from './webdav-errors.js';
export {
  WebdavRetry,
  WEBDAV_RETRY_STATUSES,
  DEFAULT_WEBDAV_MAX_TRIES,
  DEFAULT_WEBDAV_RETRY_DELAY_MS,
  DEFAULT_WEBDAV_MAX_RETRY_DELAY_MS,
  DEFAULT_WEBDAV_TRY_TIMEOUT_MS,
  type WebdavRetryOptions,
} from './webdav-retry.js';
export { webdavLevelPath, webdavLtxFilePath, webdavRootPath } from './webdav-key-layout.js';
