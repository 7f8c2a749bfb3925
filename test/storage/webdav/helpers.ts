import { parseReplicaUrl, type RemoteReplicaUrl, type ReplicaClientOptions } from '../../../src/storage/replica-url.js';
import { WebdavReplicaClient, type WebdavClientTuning } from '../../../src/storage/webdav/webdav-replica-client.js';
import { resolveWebdavSettings } from '../../../src/storage/webdav/webdav-settings.js';
import type { WebdavTestServer } from './webdav-server.js';

/** Short timeouts and retry delays, so fault tests take seconds, not minutes. */
export const TEST_TUNING: WebdavClientTuning = {
  idleTimeoutMs: 1500,
  retry: { retryDelayMs: 5, maxRetryDelayMs: 100, tryTimeoutMs: 3000 },
};

/** `webdav[s]://127.0.0.1:PORT/path` for a test server, or for a proxy port in front of it. */
export function webdavUrl(server: WebdavTestServer, path: string, port = server.port, withCredentials = false): string {
  const scheme = server.origin.startsWith('https:') ? 'webdavs' : 'webdav';
  const auth = withCredentials ? `${encodeURIComponent(server.user)}:${encodeURIComponent(server.password)}@` : '';
  return `${scheme}://${auth}127.0.0.1:${port}/${path}`;
}

/** A WebDAV client for `path` on a test server (through `port` when given), logging in with the server's user. */
export function testWebdavClient(
  server: WebdavTestServer,
  path: string,
  opts: { port?: number; tuning?: WebdavClientTuning; options?: ReplicaClientOptions } = {},
): WebdavReplicaClient {
  const url = webdavUrl(server, path, opts.port);
  const options = { 'webdav-username': server.user, 'webdav-password': server.password, ...opts.options };
  const settings = resolveWebdavSettings(parseReplicaUrl(url) as RemoteReplicaUrl, url, options);
  return new WebdavReplicaClient(settings, { ...(server.caPem === undefined ? {} : { ca: server.caPem }), ...(opts.tuning ?? TEST_TUNING) });
}
