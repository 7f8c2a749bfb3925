import { NatsReplicaClient, type NatsClientTuning } from '../../../src/storage/nats/nats-replica-client.js';
import { resolveNatsSettings } from '../../../src/storage/nats/nats-settings.js';
import { parseReplicaUrl, type RemoteReplicaUrl, type ReplicaClientOptions } from '../../../src/storage/replica-url.js';
import { NATS_TEST_PASSWORD, NATS_TEST_USER } from './nats-server.js';

/** Short timeouts and retry delays, so fault tests take seconds, not minutes. */
export const TEST_TUNING: NatsClientTuning = {
  idleTimeoutMs: 2500,
  idleCloseMs: 300,
  retry: { retryDelayMs: 20, maxRetryDelayMs: 300 },
};

/** `nats://127.0.0.1:PORT/bucket` with the test user's password in the options (or what `options` says instead). */
export function testNatsClient(port: number, bucket: string, tuning: NatsClientTuning = TEST_TUNING, options: ReplicaClientOptions = {}): NatsReplicaClient {
  const url = `nats://127.0.0.1:${port}/${bucket}`;
  const settings = resolveNatsSettings(parseReplicaUrl(url) as RemoteReplicaUrl, url, {
    username: NATS_TEST_USER,
    password: NATS_TEST_PASSWORD,
    'reconnect-wait': 100,
    ...options,
  });
  return new NatsReplicaClient(settings, tuning);
}
