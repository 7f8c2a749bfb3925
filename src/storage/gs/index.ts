/** The Google Cloud Storage replica backend. */
export {
  GsReplicaClient,
  GS_REPLICA_TYPE,
  GS_TIMESTAMP_METADATA_KEY,
  GS_CONTENT_TYPE,
  GS_READ_RESUMES,
  GS_MAX_LIST_PAGE_SIZE,
  DEFAULT_GS_IDLE_TIMEOUT_MS,
  DEFAULT_GS_SINGLE_UPLOAD_LIMIT,
  DEFAULT_GS_DELETE_CONCURRENCY,
  type GsClientTuning,
} from './gs-replica-client.js';
export {
  resolveGsSettings,
  describeGsReplica,
  GS_EMULATOR_HOST_ENV,
  GS_CREDENTIALS_FILE_ENV,
  DEFAULT_GS_EMULATOR_SCHEME,
  type GsSettings,
} from './gs-settings.js';
export { GsStorageError } from './gs-errors.js';
export {
  GsRetry,
  GS_RETRY_STATUSES,
  DEFAULT_GS_MAX_TRIES,
  DEFAULT_GS_RETRY_DELAY_MS,
  DEFAULT_GS_MAX_RETRY_DELAY_MS,
  DEFAULT_GS_TRY_TIMEOUT_MS,
  DEFAULT_GS_SHORT_TRY_TIMEOUT_MS,
  type GsRetryOptions,
} from './gs-retry.js';
export { gsLevelPrefix, gsLtxObjectName, gsRootPrefix } from './gs-key-layout.js';
