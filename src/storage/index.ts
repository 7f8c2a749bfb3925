/** Replica storage: the ReplicaClient seam, its backends, replica URLs and the fault-injecting wrapper. */
export type { ReplicaClient, LtxFileInfo, ListOptions, OpenOptions } from './replica-client.js';
export { StorageError, ReplicaFileNotFoundError, ReplicaUrlError, redactUrl } from './errors.js';
export {
  FileReplicaClient,
  FILE_REPLICA_TYPE,
  FILE_READ_CHUNK_SIZE,
  ltxFilePath,
  ltxLevelDir,
} from './file-replica-client.js';
export { peekLtxHeader, PeekedLtxStream } from './ltx-header-peek.js';
export {
  parseReplicaUrl,
  createReplicaClient,
  isUrl,
  REPLICA_URL_SCHEMES,
  type ReplicaUrl,
  type FileReplicaUrl,
  type RemoteReplicaUrl,
  type ReplicaUrlScheme,
  type RemoteReplicaScheme,
  type ReplicaUrlUserinfo,
} from './replica-url.js';
export {
  S3ReplicaClient,
  S3StorageError,
  S3DeleteError,
  resolveS3Settings,
  type S3Settings,
  type S3ClientTuning,
} from './s3/index.js';
export type { ReplicaClientOptions } from './replica-url.js';
export {
  FaultInjectingClient,
  InjectedFaultError,
  REPLICA_OPS,
  DEFAULT_RANDOM_FAULT_OPS,
  type ReplicaOp,
  type FaultOptions,
} from './fault-injecting-client.js';
