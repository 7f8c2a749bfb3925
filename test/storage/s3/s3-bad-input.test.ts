import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReplicaFileNotFoundError } from '../../../src/storage/errors.js';
import type { LtxFileInfo } from '../../../src/storage/replica-client.js';
import { S3DeleteError, S3StorageError } from '../../../src/storage/s3/s3-errors.js';
import { chunked, collect, listAll, makeLtxFile } from '../ltx-fixtures.js';
import { FaultProxy } from './fault-proxy.js';
import { testS3Client, TEST_TUNING } from './helpers.js';
import { startS3Server, type S3TestServer } from './s3-server.js';

const BUCKET = 'tidemark-bad-input';
const T0 = Date.UTC(2024, 2, 3, 4, 5, 6, 7);

let server: S3TestServer;
let proxy: FaultProxy;

before(async () => {
  server = await startS3Server([BUCKET]);
  proxy = await FaultProxy.start(server.endpoint);
});
after(async () => {
  await proxy.close();
  await server.stop();
});

function s3Failure(re: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof S3StorageError, String(err));
    assert.match(err.message, re);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  };
}

describe('S3ReplicaClient: failures that retrying cannot fix are reported at once', () => {
  it('a missing bucket: one request, naming the bucket and the endpoint', async () => {
    const client = testS3Client(proxy.endpoint, 'no-such-bucket', 'db');
    proxy.resetCounts();
    await assert.rejects(client.init(), s3Failure(/^s3:\/\/no-such-bucket\/db at http:\/\/127\.0\.0\.1:\d+: .*bucket "no-such-bucket" does not exist/));
    assert.equal(proxy.totalRequests, 1);
    client.destroy();
  });

  it('403 AccessDenied: one request, pointing at the credentials', async () => {
    const client = testS3Client(proxy.endpoint, BUCKET, 'denied');
    proxy.resetCounts();
    proxy.inject({ kind: 'access-denied' });
    try {
      await assert.rejects(client.init(), s3Failure(/access denied \(AccessDenied.*check the credentials \(from the access-key-id\/secret-access-key options\)/));
      assert.equal(proxy.totalRequests, 1);
    } finally {
      proxy.clear();
    }
    await client.init();
    proxy.inject({ kind: 'access-denied', on: 'put' });
    proxy.resetCounts();
    try {
      const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0 });
      await assert.rejects(client.writeLtxFile(0, 1n, 1n, chunked(bytes)), s3Failure(/writing denied\/0000\/0000000000000001-0000000000000001\.ltx: access denied/));
      assert.equal(proxy.counts.put, 1);
    } finally {
      proxy.clear();
      client.destroy();
    }
  });

  it('a missing file: one GET and ReplicaFileNotFoundError', async () => {
    const client = testS3Client(proxy.endpoint, BUCKET, 'missing');
    await client.init();
    proxy.resetCounts();
    await assert.rejects(client.openLtxFile(0, 5n, 5n), ReplicaFileNotFoundError);
    assert.equal(proxy.counts.get, 1);
    client.destroy();
  });

  it('wrong credentials straight from s3rver', async () => {
    const client = testS3Client(server.endpoint, BUCKET, 'x', TEST_TUNING, { 'access-key-id': 'NOT-S3RVER' });
    await assert.rejects(client.init(), s3Failure(/access denied \(InvalidAccessKeyId/));
    client.destroy();
  });
});

describe('S3ReplicaClient: failures worth retrying are retried a bounded number of times', () => {
  it('a server that keeps failing: maxAttempts requests, then one error', async () => {
    const client = testS3Client(proxy.endpoint, BUCKET, 'flaky', { ...TEST_TUNING, retry: { ...TEST_TUNING.retry, maxAttempts: 4 } });
    proxy.resetCounts();
    proxy.inject({ kind: 'internal-error' });
    try {
      await assert.rejects(client.init(), s3Failure(/S3 kept failing after 4 attempts \(InternalError/));
      assert.equal(proxy.totalRequests, 4);
    } finally {
      proxy.clear();
      client.destroy();
    }
  });

  it('throttling that stops in time: the request succeeds', async () => {
    const client = testS3Client(proxy.endpoint, BUCKET, 'throttled');
    proxy.resetCounts();
    proxy.inject({ kind: 'slow-down', times: 2 }).inject({ kind: 'too-many-requests', times: 2 });
    try {
      await client.init();
      assert.equal(proxy.counts.list, 5);
    } finally {
      proxy.clear();
      client.destroy();
    }
  });

  it('an endpoint nobody listens on', async () => {
    const srv = createServer();
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((resolve) => srv.close(() => resolve()));
    const client = testS3Client(`http://127.0.0.1:${port}`, BUCKET, 'x');
    await assert.rejects(client.init(), s3Failure(/cannot reach the S3 endpoint after 5 attempts \(ECONNREFUSED/));
    client.destroy();
  });
});

describe('S3ReplicaClient deletes', () => {
  function infos(n: number): LtxFileInfo[] {
    return Array.from({ length: n }, (_, i) => ({ level: 0, minTxid: BigInt(i + 1), maxTxid: BigInt(i + 1), size: 0, createdAt: new Date(0) }));
  }

  it('batches 1000 keys per DeleteObjects, with Content-MD5', async () => {
    const client = testS3Client(proxy.endpoint, BUCKET, 'batches');
    await client.init();
    proxy.resetCounts();
    await client.deleteLtxFiles(infos(2500));
    const deletes = proxy.requests.filter((r) => r.kind === 'delete');
    assert.equal(deletes.length, 3);
    assert.ok(deletes.every((r) => typeof r.headers['content-md5'] === 'string' && r.headers['content-md5'].length === 24));
    client.destroy();
    const noMd5 = testS3Client(proxy.endpoint, BUCKET, 'batches', TEST_TUNING, { 'require-content-md5': false });
    await noMd5.init();
    proxy.resetCounts();
    await noMd5.deleteLtxFiles(infos(3));
    assert.equal(proxy.requests.filter((r) => r.kind === 'delete' && r.headers['content-md5'] !== undefined).length, 0);
    noMd5.destroy();
  });

  it('reports the keys DeleteObjects could not delete, ignoring ones already gone', async () => {
    const client = testS3Client(proxy.endpoint, BUCKET, 'partial');
    await client.init();
    const body =
      '<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      '<Error><Key>partial/0000/0000000000000001-0000000000000001.ltx</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>' +
      '<Error><Key>partial/0000/0000000000000002-0000000000000002.ltx</Key><Code>NoSuchKey</Code><Message>gone</Message></Error>' +
      '</DeleteResult>';
    proxy.inject({ kind: 'reply', on: 'delete', status: 200, body, times: 1 });
    try {
      await assert.rejects(client.deleteLtxFiles(infos(3)), (err: unknown) => {
        assert.ok(err instanceof S3DeleteError, String(err));
        assert.match(err.message, /could not delete 1 of 3 objects: partial\/0000\/0000000000000001-0000000000000001\.ltx: AccessDenied \(Access Denied\)$/);
        assert.deepEqual(err.failures, [{ key: 'partial/0000/0000000000000001-0000000000000001.ltx', code: 'AccessDenied', message: 'Access Denied' }]);
        return true;
      });
    } finally {
      proxy.clear();
      client.destroy();
    }
  });

  it('deleteAll removes every level under the path and nothing else', async () => {
    const mine = testS3Client(server.endpoint, BUCKET, 'mine');
    const neighbour = testS3Client(server.endpoint, BUCKET, 'mine-too');
    try {
      for (const [client, level, t] of [[mine, 0, 1n], [mine, 9, 1n], [mine, 3, 2n], [neighbour, 0, 1n]] as const) {
        await client.writeLtxFile(level, t, t, chunked(await makeLtxFile({ minTxid: t, maxTxid: t, timestamp: T0 })));
      }
      await mine.deleteAll();
      for (const level of [0, 3, 9]) assert.deepEqual(await listAll(mine.ltxFiles(level)), []);
      assert.equal((await listAll(neighbour.ltxFiles(0))).length, 1, 'a path that merely starts the same is another replica');
    } finally {
      mine.destroy();
      neighbour.destroy();
    }
  });
});

describe('S3ReplicaClient request headers', () => {
  it('signs payloads by default, and sends UNSIGNED-PAYLOAD with sign-payload false', async () => {
    const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0 });
    for (const [options, unsigned] of [[{}, false], [{ 'sign-payload': false }, true]] as const) {
      const client = testS3Client(proxy.endpoint, BUCKET, `signing-${String(unsigned)}`, TEST_TUNING, options);
      await client.init();
      proxy.resetCounts();
      await client.writeLtxFile(0, 1n, 1n, chunked(bytes));
      const put = proxy.requests.find((r) => r.kind === 'put');
      const hash = put?.headers['x-amz-content-sha256'];
      if (unsigned) assert.equal(hash, 'UNSIGNED-PAYLOAD');
      else assert.match(String(hash), /^[0-9a-f]{64}$/);
      assert.match(String(put?.headers['user-agent']), /tidemark/);
      client.destroy();
    }
  });
});

describe('S3ReplicaClient over TLS', () => {
  let dir: string;
  let tlsServer: S3TestServer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tidemark-s3-tls-'));
    const keyPath = join(dir, 'key.pem');
    const certPath = join(dir, 'cert.pem');
    // A throwaway self-signed certificate, which no client trusts unless told to.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '1', '-subj', '/CN=127.0.0.1'], {
      stdio: 'ignore',
    });
    tlsServer = await startS3Server([BUCKET], { tls: { keyPath, certPath } });
  });
  after(async () => {
    await tlsServer.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a certificate it cannot verify, at once, and works with skip-verify', async () => {
    assert.match(tlsServer.endpoint, /^https:/);
    const strict = testS3Client(tlsServer.endpoint, BUCKET, 'tls');
    await assert.rejects(strict.init(), s3Failure(/TLS certificate not accepted \(.*\); fix the certificate, or set skip-verify/));
    strict.destroy();
    const lenient = testS3Client(tlsServer.endpoint, BUCKET, 'tls', TEST_TUNING, { 'skip-verify': true });
    try {
      const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0 });
      await lenient.writeLtxFile(0, 1n, 1n, chunked(bytes));
      assert.deepEqual(await collect(await lenient.openLtxFile(0, 1n, 1n)), bytes);
    } finally {
      lenient.destroy();
    }
  });
});
