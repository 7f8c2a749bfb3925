/** The SFTP replica backend. */
export {
  SftpReplicaClient,
  SFTP_REPLICA_TYPE,
  SFTP_TMP_SUFFIX,
  SFTP_WRITE_CHUNK_SIZE,
  SFTP_CONCURRENT_WRITE_REQUESTS,
  SFTP_READ_CHUNK_SIZE,
  SFTP_READ_RESUMES,
  DEFAULT_SFTP_OPERATION_CONCURRENCY,
  type SftpClientTuning,
} from './sftp-replica-client.js';
export {
  SftpConnection,
  DEFAULT_SFTP_CONNECT_TIMEOUT_MS,
  DEFAULT_SFTP_REQUEST_TIMEOUT_MS,
  DEFAULT_SFTP_IDLE_CLOSE_MS,
  DEFAULT_SFTP_MAX_ATTEMPTS,
  DEFAULT_SFTP_RETRY_BASE_MS,
  DEFAULT_SFTP_RETRY_MAX_MS,
  type SftpConnectionTuning,
  type SftpSession,
} from './sftp-connection.js';
export { resolveSftpSettings, describeSftpReplica, DEFAULT_SFTP_PORT, DEFAULT_SFTP_CONCURRENT_WRITES, type SftpSettings } from './sftp-settings.js';
export { parseHostKeyLine, type PinnedHostKey } from './sftp-host-key.js';
export { SftpStorageError, SftpHostKeyMismatchError, SftpAuthenticationError } from './sftp-errors.js';
