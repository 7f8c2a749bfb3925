/** The NATS JetStream object store replica backend. */
export {
  NatsReplicaClient,
  NATS_REPLICA_TYPE,
  NATS_TIMESTAMP_HEADER,
  NATS_READ_RESUMES,
  DEFAULT_NATS_IDLE_TIMEOUT_MS,
  DEFAULT_NATS_RETRY_BUFFER_BYTES,
  DEFAULT_NATS_DELETE_CONCURRENCY,
  type NatsClientTuning,
} from './nats-replica-client.js';
export {
  resolveNatsSettings,
  describeNatsReplica,
  DEFAULT_NATS_MAX_RECONNECTS,
  DEFAULT_NATS_RECONNECT_WAIT_MS,
  DEFAULT_NATS_CONNECT_TIMEOUT_MS,
  DEFAULT_NATS_PING_INTERVAL_MS,
  DEFAULT_NATS_MAX_PINGS_OUT,
  type NatsSettings,
  type NatsAuth,
  type NatsTlsSettings,
} from './nats-settings.js';
export { NatsConnectionHolder, DEFAULT_NATS_IDLE_CLOSE_MS } from './nats-connection.js';
export { NatsStorageError } from './nats-errors.js';
export { NatsRetry, DEFAULT_NATS_MAX_TRIES, DEFAULT_NATS_RETRY_DELAY_MS, DEFAULT_NATS_MAX_RETRY_DELAY_MS, type NatsRetryOptions } from './nats-retry.js';
export { natsLevelPrefix, natsObjectName } from './nats-key-layout.js';
