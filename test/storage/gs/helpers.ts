import { GsReplicaClient, type GsClientTuning } from '../../../src/storage/gs/gs-replica-client.js';
import { resolveGsSettings } from '../../../src/storage/gs/gs-settings.js';
import { parseReplicaUrl, type RemoteReplicaUrl, type ReplicaClientOptions } from '../../../src/storage/replica-url.js';

/** Short timeouts and retry delays, so fault tests take seconds, not minutes. */
export const TEST_TUNING: GsClientTuning = {
  idleTimeoutMs: 1500,
  retry: { retryDelayMs: 5, maxRetryDelayMs: 100, tryTimeoutMs: 3000, shortTryTimeoutMs: 1500 },
};

/** A GCS client for `gs://bucket/path` on an emulator at `origin` (as STORAGE_EMULATOR_HOST names it). */
export function testGsClient(origin: string, bucket: string, path: string, tuning: GsClientTuning = TEST_TUNING, options: ReplicaClientOptions = {}): GsReplicaClient {
  const url = `gs://${bucket}/${path}`;
  const settings = resolveGsSettings(parseReplicaUrl(url) as RemoteReplicaUrl, url, options, { STORAGE_EMULATOR_HOST: origin });
  return new GsReplicaClient(settings, tuning);
}
