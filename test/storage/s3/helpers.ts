import { S3ReplicaClient, type S3ClientTuning } from '../../../src/storage/s3/s3-replica-client.js';
import { resolveS3Settings } from '../../../src/storage/s3/s3-settings.js';
import { parseReplicaUrl, type RemoteReplicaUrl, type ReplicaClientOptions } from '../../../src/storage/replica-url.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY } from './s3-server.js';

/** Short timeouts and retry delays, so fault tests take seconds, not minutes. */
export const TEST_TUNING: S3ClientTuning = {
  idleTimeoutMs: 1500,
  connectTimeoutMs: 2000,
  retry: { baseDelayMs: 5, throttleBaseDelayMs: 10, maxDelayMs: 100 },
};

/** Environment with no credentials of its own: tests name theirs explicitly. */
export const EMPTY_ENV: NodeJS.ProcessEnv = {};

/** An S3 client for `s3://bucket/path` on a test endpoint, with s3rver's credentials. */
export function testS3Client(
  endpoint: string,
  bucket: string,
  path: string,
  tuning: S3ClientTuning = TEST_TUNING,
  options: ReplicaClientOptions = {},
): S3ReplicaClient {
  const url = `s3://${bucket}/${path}?endpoint=${encodeURIComponent(endpoint)}`;
  const settings = resolveS3Settings(
    parseReplicaUrl(url) as RemoteReplicaUrl,
    url,
    { 'access-key-id': S3RVER_ACCESS_KEY_ID, 'secret-access-key': S3RVER_SECRET_ACCESS_KEY, ...options },
    EMPTY_ENV,
  );
  return new S3ReplicaClient(settings, tuning);
}
