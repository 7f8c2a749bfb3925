import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { ReplicaFileNotFoundError } from '../../../src/storage/errors.js';
import { AbsStorageError } from '../../../src/storage/abs/abs-errors.js';
import { AbsReplicaClient } from '../../../src/storage/abs/abs-replica-client.js';
import { resolveAbsSettings } from '../../../src/storage/abs/abs-settings.js';
import { parseReplicaUrl, type RemoteReplicaUrl } from '../../../src/storage/replica-url.js';
import { isPermanentError } from '../../../src/storage/permanent-error.js';
import { chunked, makeLtxFile } from '../ltx-fixtures.js';
import { AbsFaultProxy } from './abs-fault-proxy.js';
import { AZURITE_ACCOUNT, startAbsServer, type AbsTestServer } from './abs-server.js';
import { testAbsClient, TEST_TUNING } from './helpers.js';

const CONTAINER = 'tidemark-bad-input';
const T0 = Date.UTC(2024, 2, 3, 4, 5, 6, 7);

let server: AbsTestServer;
let proxy: AbsFaultProxy;
let proxied: string;

before(async () => {
  server = await startAbsServer([CONTAINER]);
  proxy = await AbsFaultProxy.start(server.origin);
  proxied = `${proxy.origin}/${AZURITE_ACCOUNT}`;
});
after(async () => {
  await proxy.close();
  await server.stop();
});

function absFailure(re: RegExp, permanent: boolean): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof AbsStorageError, String(err));
    assert.match(err.message, re);
    assert.doesNotMatch(err.message, /\n/);
    assert.equal(isPermanentError(err), permanent, `permanent: ${err.message}`);
    return true;
  };
}

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe('AbsReplicaClient: failures that retrying cannot fix are reported at once', () => {
  it('a missing container: one request, naming the container and the endpoint, and that it must be created', async () => {
    const client = testAbsClient(proxied, 'no-such-container', 'db');
    proxy.resetCounts();
    await assert.rejects(
      client.init(),
      absFailure(/^abs:\/\/devstoreaccount1@no-such-container\/db at http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1: .*container "no-such-container" does not exist \(ContainerNotFound.*create it/, true),
    );
    assert.equal(proxy.totalRequests, 1);
  });

  it('Azure AD with no credential to be found: one line saying what to set, before any request', async () => {
    const url = 'abs://acct@c0ntainer/p';
    const endpoint = `https://127.0.0.1:${await closedPort()}/acct`;
    const saved = Object.entries(process.env).filter(([k]) => k.startsWith('AZURE_'));
    for (const [k] of saved) delete process.env[k];
    try {
      const client = new AbsReplicaClient(resolveAbsSettings(parseReplicaUrl(url) as RemoteReplicaUrl, url, { endpoint }, {}), TEST_TUNING);
      await assert.rejects(client.init(), absFailure(/checking that the container can be listed: no Azure AD token \(.*\); set an account key or a SAS token, or the Azure AD credentials DefaultAzureCredential reads/, true));
    } finally {
      for (const [k, v] of saved) process.env[k] = v;
    }
  });

  it('Azure AD against an http endpoint: refused without a request, as the SDK sends tokens only over https', async () => {
    const url = `abs://${AZURITE_ACCOUNT}@${CONTAINER}/p`;
    const client = new AbsReplicaClient(resolveAbsSettings(parseReplicaUrl(url) as RemoteReplicaUrl, url, { endpoint: proxied }, {}), TEST_TUNING);
    proxy.resetCounts();
    await assert.rejects(client.init(), absFailure(/an Azure AD token is only sent over https, and the endpoint is http/, true));
    assert.equal(proxy.totalRequests, 0);
  });

  it('a wrong account key: one request, pointing at the key', async () => {
    const client = testAbsClient(proxied, CONTAINER, 'x', TEST_TUNING, { 'account-key': Buffer.alloc(64, 7).toString('base64') });
    proxy.resetCounts();
    await assert.rejects(client.init(), absFailure(/access denied \(AuthorizationFailure.*check the account key or SAS token \(from the account-key option\)/, true));
    assert.equal(proxy.totalRequests, 1);
  });

  it('a SAS token the server refuses', async () => {
    const client = testAbsClient(server.endpoint, CONTAINER, 'x', TEST_TUNING, { 'sas-token': 'sv=2020-01-01&ss=b&srt=co&sp=rl&se=2000-01-01T00:00:00Z&sig=bm90LWEtc2lnbmF0dXJl' });
    await assert.rejects(client.init(), absFailure(/access denied \(.*from the sas-token option/, true));
  });

  it('403 on an upload after a good start: one PUT, the blob named', async () => {
    const client = testAbsClient(proxied, CONTAINER, 'denied');
    await client.init();
    proxy.resetCounts();
    proxy.inject({ kind: 'auth-failed', on: 'put' });
    try {
      const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0 });
      await assert.rejects(client.writeLtxFile(0, 1n, 1n, chunked(bytes)), absFailure(/writing denied\/ltx\/0\/0000000000000001-0000000000000001\.ltx: access denied \(AuthenticationFailed/, true));
      assert.equal(proxy.counts.put, 1);
    } finally {
      proxy.clear();
    }
  });

  it('a missing file: one GET and ReplicaFileNotFoundError', async () => {
    const client = testAbsClient(proxied, CONTAINER, 'missing');
    await client.init();
    proxy.resetCounts();
    await assert.rejects(client.openLtxFile(0, 5n, 5n), ReplicaFileNotFoundError);
    assert.equal(proxy.counts.get, 1);
  });
});

describe('AbsReplicaClient: failures worth retrying are retried a bounded number of times', () => {
  it('a server that keeps failing: maxTries requests, then one error', async () => {
    const client = testAbsClient(proxied, CONTAINER, 'flaky', { ...TEST_TUNING, retry: { ...TEST_TUNING.retry, maxTries: 4 } });
    proxy.resetCounts();
    proxy.inject({ kind: 'internal-error' });
    try {
      await assert.rejects(client.init(), absFailure(/Azure Blob Storage kept failing after 4 attempts \(InternalError.*HTTP 500\)/, false));
      assert.equal(proxy.totalRequests, 4);
    } finally {
      proxy.clear();
    }
  });

  it('throttling that stops in time: the request succeeds', async () => {
    const client = testAbsClient(proxied, CONTAINER, 'throttled');
    proxy.resetCounts();
    proxy.inject({ kind: 'server-busy', times: 3 });
    try {
      await client.init();
      assert.equal(proxy.counts.list, 4);
    } finally {
      proxy.clear();
    }
  });

  it('an endpoint nobody listens on', async () => {
    const port = await closedPort();
    const client = testAbsClient(`http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`, CONTAINER, 'x');
    await assert.rejects(client.init(), absFailure(/cannot reach the Azure Blob Storage endpoint after 5 attempts \(ECONNREFUSED/, false));
  });
});
