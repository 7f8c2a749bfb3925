import { AbsReplicaClient, type AbsClientTuning } from '../../../src/storage/abs/abs-replica-client.js';
import { resolveAbsSettings } from '../../../src/storage/abs/abs-settings.js';
import { parseReplicaUrl, type RemoteReplicaUrl, type ReplicaClientOptions } from '../../../src/storage/replica-url.js';
import { AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY } from './abs-server.js';

/** Short timeouts and retry delays, so fault tests take seconds, not minutes. */
export const TEST_TUNING: AbsClientTuning = {
  idleTimeoutMs: 1500,
  retry: { retryDelayMs: 5, maxRetryDelayMs: 100, tryTimeoutMs: 3000 },
};

/** Environment with no credentials of its own: tests name theirs explicitly. */
export const EMPTY_ENV: NodeJS.ProcessEnv = {};

/** An Azure client for `abs://devstoreaccount1@container/path` on a test endpoint, with the dev account's key. */
export function testAbsClient(
  endpoint: string,
  container: string,
  path: string,
  tuning: AbsClientTuning = TEST_TUNING,
  options: ReplicaClientOptions = {},
): AbsReplicaClient {
  const url = `abs://${AZURITE_ACCOUNT}@${container}/${path}`;
  const settings = resolveAbsSettings(parseReplicaUrl(url) as RemoteReplicaUrl, url, { endpoint, 'account-key': AZURITE_ACCOUNT_KEY, ...options }, EMPTY_ENV);
  return new AbsReplicaClient(settings, tuning);
}
