/** The S3 (and S3-compatible) replica backend. */
export {
  S3ReplicaClient,
  S3_REPLICA_TYPE,
  DEFAULT_S3_IDLE_TIMEOUT_MS,
  DEFAULT_S3_CONNECT_TIMEOUT_MS,
  DEFAULT_S3_METADATA_CONCURRENCY,
  S3_DELETE_BATCH_SIZE,
  S3_READ_RESUMES,
  S3_MAX_LIST_PAGE_SIZE,
  S3_V03_GENERATION_SCAN_PAGE_SIZE,
  type S3ClientTuning,
} from './s3-replica-client.js';
export {
  resolveS3Settings,
  describeS3Replica,
  DEFAULT_S3_PART_SIZE,
  MIN_S3_PART_SIZE,
  DEFAULT_S3_CONCURRENCY,
  R2_S3_CONCURRENCY,
  type S3Settings,
  type S3Credentials,
  type S3Encryption,
} from './s3-settings.js';
export { S3StorageError, S3DeleteError } from './s3-errors.js';
export {
  S3RetryStrategy,
  DEFAULT_S3_MAX_ATTEMPTS,
  DEFAULT_S3_RETRY_BASE_MS,
  DEFAULT_S3_THROTTLE_RETRY_BASE_MS,
  DEFAULT_S3_RETRY_MAX_MS,
  type S3RetryOptions,
} from './s3-retry-strategy.js';
export { DEFAULT_S3_REGION, detectS3Provider, parseS3Host, type S3Provider } from './s3-endpoint.js';
export { s3LtxKey, s3LevelPrefix, s3RootPrefix } from './s3-key-layout.js';
export { s3V03Key, s3V03Prefix, s3V03GenerationsPrefix } from './s3-v03-key-layout.js';
export { S3_TIMESTAMP_METADATA_KEY, formatRfc3339Nano, parseRfc3339 } from './s3-timestamp.js';
