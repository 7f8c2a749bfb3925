import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { ReplicaFileNotFoundError } from '../../../src/storage/errors.js';
import { GsStorageError } from '../../../src/storage/gs/gs-errors.js';
import { isPermanentError } from '../../../src/storage/permanent-error.js';
import { chunked, makeLtxFile } from '../ltx-fixtures.js';
import { GsFaultProxy } from './gs-fault-proxy.js';
import { startGsServer, type GsTestServer } from './gs-server.js';
import { testGsClient, TEST_TUNING } from './helpers.js';

const BUCKET = 'tidemark-bad-input';
const T0 = Date.UTC(2024, 2, 3, 4, 5, 6, 7);

let server: GsTestServer;
let proxy: GsFaultProxy;

before(async () => {
  server = await startGsServer();
  proxy = await GsFaultProxy.start(server.origin);
});
after(async () => {
  await proxy.close();
  await server.stop();
});

function gsFailure(re: RegExp, permanent: boolean): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof GsStorageError, String(err));
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

// The emulator makes a bucket on first use and checks no credentials, so these answers come from the proxy, worded as GCS words them.
describe('GsReplicaClient: failures that retrying cannot fix are reported at once', () => {
  it('a missing bucket: one request, naming the bucket and that it must be created', async () => {
    const client = testGsClient(proxy.origin, 'no-such-bucket', 'db');
    proxy.resetCounts();
    proxy.inject({ kind: 'no-bucket' });
    try {
      await assert.rejects(
        client.init(),
        gsFailure(/^gs:\/\/no-such-bucket\/db at http:\/\/127\.0\.0\.1:\d+: checking that the bucket can be listed: bucket "no-such-bucket" does not exist \(notFound: .*create it/, true),
      );
      assert.equal(proxy.totalRequests, 1);
    } finally {
      proxy.clear();
    }
  });

  it('credentials GCS does not accept (401): one request, pointing at the credentials', async () => {
    const client = testGsClient(proxy.origin, BUCKET, 'x');
    proxy.resetCounts();
    proxy.inject({ kind: 'unauthorized' });
    try {
      await assert.rejects(client.init(), gsFailure(/not authenticated \(authError: Invalid Credentials\); check the credentials/, true));
      assert.equal(proxy.totalRequests, 1);
    } finally {
      proxy.clear();
    }
  });

  it('credentials without the permission (403): one request, naming the bucket', async () => {
    const client = testGsClient(proxy.origin, BUCKET, 'x');
    proxy.resetCounts();
    proxy.inject({ kind: 'forbidden' });
    try {
      await assert.rejects(client.init(), gsFailure(/access denied \(forbidden: .*storage\.objects\.list.*\); check that the credentials .* bucket "tidemark-bad-input"/, true));
      assert.equal(proxy.totalRequests, 1);
    } finally {
      proxy.clear();
    }
  });

  it('403 on an upload after a good start: one upload request, the object named', async () => {
    const client = testGsClient(proxy.origin, BUCKET, 'denied');
    await client.init();
    proxy.resetCounts();
    proxy.inject({ kind: 'forbidden', on: 'upload' });
    try {
      const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0 });
      await assert.rejects(client.writeLtxFile(0, 1n, 1n, chunked(bytes)), gsFailure(/writing denied\/ltx\/0\/0000000000000001-0000000000000001\.ltx: access denied \(forbidden/, true));
      assert.equal(proxy.counts.upload, 1);
    } finally {
      proxy.clear();
    }
  });

  it('a missing file: one GET and ReplicaFileNotFoundError', async () => {
    const client = testGsClient(proxy.origin, BUCKET, 'missing');
    await client.init();
    proxy.resetCounts();
    await assert.rejects(client.openLtxFile(0, 5n, 5n), ReplicaFileNotFoundError);
    assert.equal(proxy.counts.get, 1);
  });
});

describe('GsReplicaClient: failures worth retrying are retried a bounded number of times', () => {
  it('a server that keeps failing: maxTries requests, then one error', async () => {
    const client = testGsClient(proxy.origin, BUCKET, 'flaky', { ...TEST_TUNING, retry: { ...TEST_TUNING.retry, maxTries: 4 } });
    proxy.resetCounts();
    proxy.inject({ kind: 'internal-error' });
    try {
      await assert.rejects(client.init(), gsFailure(/Google Cloud Storage kept failing after 4 attempts \(backendError: .*HTTP 500\)/, false));
      assert.equal(proxy.totalRequests, 4);
    } finally {
      proxy.clear();
    }
  });

  it('throttling that stops in time: the request succeeds', async () => {
    const client = testGsClient(proxy.origin, BUCKET, 'throttled');
    proxy.resetCounts();
    proxy.inject({ kind: 'rate-limited', times: 2 }).inject({ kind: 'unavailable', times: 1 });
    try {
      await client.init();
      assert.equal(proxy.counts.list, 4);
    } finally {
      proxy.clear();
    }
  });

  it('a host nobody listens on', async () => {
    const port = await closedPort();
    const client = testGsClient(`127.0.0.1:${port}`, BUCKET, 'x');
    await assert.rejects(client.init(), gsFailure(/^gs:\/\/tidemark-bad-input\/x at http:\/\/127\.0\.0\.1:\d+: .*cannot reach Google Cloud Storage after 5 attempts \(ECONNREFUSED/, false));
  });
});
