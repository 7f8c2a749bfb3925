import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { ReplicaFileNotFoundError } from '../../../src/storage/errors.js';
import { NatsStorageError } from '../../../src/storage/nats/nats-errors.js';
import { isPermanentError } from '../../../src/storage/permanent-error.js';
import { TcpFaultProxy } from '../sftp/tcp-fault-proxy.js';
import { startNatsServer, type NatsTestServer } from './nats-server.js';
import { testNatsClient, TEST_TUNING } from './helpers.js';

const BUCKET = 'tidemark-bad-input';

let server: NatsTestServer;
let proxy: TcpFaultProxy;

before(async () => {
  server = await startNatsServer();
  await server.createBucket(BUCKET);
  proxy = await TcpFaultProxy.start(server.port);
});
after(async () => {
  await proxy.close();
  await server.stop();
});

function natsFailure(re: RegExp, permanent: boolean): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof NatsStorageError, String(err));
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

describe('NatsReplicaClient: failures that retrying cannot fix are reported at once', () => {
  it('a missing bucket: one connection, naming the bucket and that it must be created', async () => {
    const client = testNatsClient(proxy.port, 'no-such-bucket');
    proxy.resetCounts();
    await assert.rejects(
      client.init(),
      natsFailure(/^nats:\/\/127\.0\.0\.1:\d+\/no-such-bucket: connecting: bucket "no-such-bucket" does not exist \(object store not found\); create the object store first .*nats object add no-such-bucket/, true),
    );
    assert.equal(proxy.connections, 1);
    assert.equal(client.connection.open, false, 'the connection is not kept');
  });

  it('a wrong password: one connection', async () => {
    const client = testNatsClient(proxy.port, BUCKET, TEST_TUNING, { password: 'nope' });
    proxy.resetCounts();
    await assert.rejects(client.init(), natsFailure(/authorization failed \(.*Authorization Violation/i, true));
    assert.equal(proxy.connections, 1);
  });

  it('no credentials at all for a server that wants them', async () => {
    const client = testNatsClient(server.port, BUCKET, TEST_TUNING, { username: undefined, password: undefined });
    await assert.rejects(client.init(), natsFailure(/authorization failed .*from no credentials/i, true));
  });

  it('a server without JetStream: one line saying so, not retried', async () => {
    const plain = await startNatsServer({ jetstream: false });
    try {
      const client = testNatsClient(plain.port, BUCKET);
      await assert.rejects(client.init(), natsFailure(/connecting: JetStream is not enabled on the server \(.*\); start nats-server with -js/, true));
      assert.equal(client.connection.connects, 1);
    } finally {
      await plain.stop();
    }
  });

  it('a missing file: ReplicaFileNotFoundError', async () => {
    const client = testNatsClient(server.port, BUCKET);
    await assert.rejects(client.openLtxFile(0, 5n, 5n), ReplicaFileNotFoundError);
    await client.close();
  });
});

describe('NatsReplicaClient: failures worth retrying are retried a bounded number of times', () => {
  it('a host nobody listens on: maxTries connection attempts, then one transient error', async () => {
    const port = await closedPort();
    const client = testNatsClient(port, BUCKET, { ...TEST_TUNING, retry: { ...TEST_TUNING.retry, maxTries: 3 } });
    await assert.rejects(client.init(), natsFailure(/^nats:\/\/127\.0\.0\.1:\d+\/tidemark-bad-input: connecting: cannot reach the NATS server after 3 attempts \(ECONNREFUSED/, false));
    assert.equal(client.connection.connects, 3);
  });

  it('connections dropped as they open: retried, then one transient error', async () => {
    const client = testNatsClient(proxy.port, BUCKET, { ...TEST_TUNING, retry: { ...TEST_TUNING.retry, maxTries: 4 } });
    proxy.resetCounts();
    proxy.refuse(true);
    try {
      await assert.rejects(client.init(), natsFailure(/connecting: .*after 4 attempts/, false));
      assert.ok(proxy.connections >= 4, `${proxy.connections} connections`);
    } finally {
      proxy.refuse(false);
    }
  });
});
