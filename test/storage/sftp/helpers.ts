import { parseReplicaUrl, type RemoteReplicaUrl, type ReplicaClientOptions } from '../../../src/storage/replica-url.js';
import { SftpReplicaClient, type SftpClientTuning } from '../../../src/storage/sftp/sftp-replica-client.js';
import { resolveSftpSettings } from '../../../src/storage/sftp/sftp-settings.js';
import { silentLogger } from '../../../src/logger.js';
import type { SftpTestServer } from './sftp-server.js';

/** Short enough that fault tests finish quickly, long enough for a loaded machine. */
export const TEST_TUNING: SftpClientTuning = {
  connectTimeoutMs: 15_000,
  requestTimeoutMs: 5_000,
  retryBaseMs: 50,
  retryMaxMs: 200,
  logger: silentLogger,
};

/** `sftp://user@127.0.0.1:port//abs/dir`: an absolute directory on the test server. */
export function sftpUrl(srv: Pick<SftpTestServer, 'user' | 'port'>, absDir: string, port = srv.port): string {
  return `sftp://${srv.user}@127.0.0.1:${port}/${absDir}`;
}

/** A client for `absDir` on the test server, with its key and pinned host key unless overridden. */
export function testSftpClient(
  srv: SftpTestServer,
  absDir: string,
  options: ReplicaClientOptions = {},
  tuning: SftpClientTuning = {},
  port = srv.port,
): SftpReplicaClient {
  const url = sftpUrl(srv, absDir, port);
  const settings = resolveSftpSettings(parseReplicaUrl(url) as RemoteReplicaUrl, url, {
    'key-path': srv.userKey.privatePath,
    'host-key': srv.hostKeyLine,
    ...options,
  });
  return new SftpReplicaClient(settings, { ...TEST_TUNING, ...tuning });
}
