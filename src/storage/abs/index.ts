/** The Azure Blob Storage replica backend. */
export {
  AbsReplicaClient,
  ABS_REPLICA_TYPE,
  ABS_TIMESTAMP_METADATA_KEY,
  ABS_ACCESS_TIER,
  ABS_CONTENT_TYPE,
  ABS_READ_RESUMES,
  ABS_MAX_LIST_PAGE_SIZE,
  DEFAULT_ABS_IDLE_TIMEOUT_MS,
  DEFAULT_ABS_BLOCK_SIZE,
  DEFAULT_ABS_UPLOAD_CONCURRENCY,
  DEFAULT_ABS_DELETE_CONCURRENCY,
  type AbsClientTuning,
} from './abs-replica-client.js';
export {
  resolveAbsSettings,
  describeAbsReplica,
  DEFAULT_ABS_ENDPOINT_SUFFIX,
  ABS_ACCOUNT_KEY_ENV,
  ABS_SAS_TOKEN_ENV,
  type AbsSettings,
  type AbsCredential,
} from './abs-settings.js';
export { AbsStorageError } from './abs-errors.js';
export {
  AbsRetry,
  ABS_RETRY_STATUSES,
  DEFAULT_ABS_MAX_TRIES,
  DEFAULT_ABS_RETRY_DELAY_MS,
  DEFAULT_ABS_MAX_RETRY_DELAY_MS,
  DEFAULT_ABS_TRY_TIMEOUT_MS,
  type AbsRetryOptions,
} from './abs-retry.js';
export { absLevelPrefix, absLtxBlobName, absRootPrefix } from './abs-key-layout.js';
