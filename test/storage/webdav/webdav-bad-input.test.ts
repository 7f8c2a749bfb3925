import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ReplicaFileNotFoundError } from '../../../src/storage/errors.js';
import { isPermanentError } from '../../../src/storage/permanent-error.js';
import { WebdavStorageError } from '../../../src/storage/webdav/webdav-errors.js';
import { chunked, makeLtxFile } from '../ltx-fixtures.js';
import { testWebdavClient, TEST_TUNING } from './helpers.js';
import { WebdavFaultProxy } from './webdav-fault-proxy.js';
import { startWebdavServer, type WebdavTestServer } from './webdav-server.js';

const T0 = Date.UTC(2024, 2, 3, 4, 5, 6, 7);

let server: WebdavTestServer;
let readOnly: WebdavTestServer;
let proxy: WebdavFaultProxy;

before(async () => {
  [server, readOnly] = await Promise.all([startWebdavServer(), startWebdavServer({ readOnly: true })]);
  proxy = await WebdavFaultProxy.start(server.origin);
});
after(async () => {
  await proxy.close();
  await Promise.all([server.stop(), readOnly.stop()]);
});

function webdavFailure(re: RegExp, permanent: boolean): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof WebdavStorageError, String(err));
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

describe('WebdavReplicaClient: failures that retrying cannot fix are reported at once', () => {
  it('a wrong password: one request, naming the replica and where the credentials came from', async () => {
    const client = testWebdavClient(server, 'db', { port: proxy.port, options: { 'webdav-password': 'wrong' } });
    proxy.resetCounts();
    await assert.rejects(
      client.init(),
      webdavFailure(/^webdav:\/\/127\.0\.0\.1:\d+\/db: opening \/db: authentication failed \(HTTP 401\); check the user name and password \(from webdav-username\/webdav-password\)$/, true),
    );
    assert.equal(proxy.totalRequests, 1);
  });

  it('no credentials for a server that wants them', async () => {
    const client = testWebdavClient(server, 'db', { options: { 'webdav-username': '', 'webdav-password': '' } });
    await assert.rejects(client.init(), webdavFailure(/the server asks for credentials \(HTTP 401\); give them as webdav:\/\/USER:PASSWORD@host\/path/, true));
  });

  it('a replica path that is a file on the server', async () => {
    mkdirSync(join(server.dir, 'holder'), { recursive: true });
    writeFileSync(join(server.dir, 'holder', 'afile'), 'not a collection');
    const client = testWebdavClient(server, 'holder/afile');
    await assert.rejects(client.init(), (err: unknown) => {
      assert.ok(err instanceof WebdavStorageError);
      assert.match(err.message, /^webdav:\/\/127\.0\.0\.1:\d+\/holder\/afile: \/holder\/afile exists on the server but is a file, not a collection/);
      return true;
    });
  });

  it('a server that refuses writes: the upload fails in one line and nothing is retried', async () => {
    const client = testWebdavClient(readOnly, 'ro');
    await client.init();
    const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0 });
    await assert.rejects(client.writeLtxFile(0, 1n, 1n, chunked(bytes)), webdavFailure(/^webdav:\/\/127\.0\.0\.1:\d+\/ro: .*\(HTTP 4\d\d\)/, true));
  });

  it('403 on an upload after a good start: one PUT, the file named', async () => {
    const client = testWebdavClient(server, 'denied', { port: proxy.port });
    await client.init();
    proxy.resetCounts();
    proxy.inject({ reply: 403, on: 'PUT' });
    try {
      const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0 });
      await assert.rejects(client.writeLtxFile(0, 1n, 1n, chunked(bytes)), webdavFailure(/writing \/denied\/ltx\/0\/0000000000000001-0000000000000001\.ltx: access denied \(HTTP 403\)/, true));
      assert.equal(proxy.counts['PUT'], 1);
    } finally {
      proxy.clear();
    }
  });

  it('a missing file: one GET and ReplicaFileNotFoundError', async () => {
    const client = testWebdavClient(server, 'missing', { port: proxy.port });
    await client.init();
    proxy.resetCounts();
    await assert.rejects(client.openLtxFile(0, 5n, 5n), ReplicaFileNotFoundError);
    assert.deepEqual(proxy.counts, { GET: 1 });
  });
});

describe('WebdavReplicaClient: failures worth retrying are retried a bounded number of times', () => {
  it('a server that keeps failing: maxTries requests, then one error', async () => {
    const client = testWebdavClient(server, 'flaky', { port: proxy.port, tuning: { ...TEST_TUNING, retry: { ...TEST_TUNING.retry, maxTries: 4 } } });
    proxy.resetCounts();
    proxy.inject({ reply: 500 });
    try {
      await assert.rejects(client.init(), webdavFailure(/the WebDAV server kept failing after 4 attempts \(HTTP 500\)/, false));
      assert.equal(proxy.totalRequests, 4);
    } finally {
      proxy.clear();
    }
  });

  it('throttling and a reset that stop in time: the requests succeed', async () => {
    const client = testWebdavClient(server, 'throttled', { port: proxy.port });
    proxy.resetCounts();
    proxy.inject({ reply: 503, times: 2 }).inject({ reply: 'reset', on: 'PROPFIND', times: 1 });
    try {
      await client.init();
      assert.equal(proxy.counts['PROPFIND'], 4);
      proxy.inject({ reply: 429, on: 'PUT', times: 2 }).inject({ reply: 502, on: 'MOVE', times: 1 });
      const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0 });
      await client.writeLtxFile(0, 1n, 1n, chunked(bytes));
    } finally {
      proxy.clear();
    }
  });

  it('a server nobody listens on', async () => {
    const port = await closedPort();
    const client = testWebdavClient(server, 'x', { port });
    await assert.rejects(client.init(), webdavFailure(/^webdav:\/\/127\.0\.0\.1:\d+\/x: opening \/x: cannot reach the WebDAV server after 5 attempts \(connect ECONNREFUSED 127\.0\.0\.1:\d+\); check the host, the port/, false));
  });

  it('a webdavs:// server whose certificate is not trusted', async () => {
    const tls = await startWebdavServer({ tls: true });
    try {
      const client = testWebdavClient({ ...tls, caPem: undefined }, 'x');
      await assert.rejects(client.init(), webdavFailure(/^webdavs:\/\/127\.0\.0\.1:\d+\/x: opening \/x: TLS certificate not accepted \(.*\); check the server's certificate/, true));
    } finally {
      await tls.stop();
    }
  });
});
