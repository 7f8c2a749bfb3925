import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { NatsStorageError } from '../../../src/storage/nats/nats-errors.js';
import { isPermanentError } from '../../../src/storage/permanent-error.js';
import { chunked, collect, makeLtxFile } from '../ltx-fixtures.js';
import { startNatsServer, NATS_TEST_PASSWORD, NATS_TEST_USER } from './nats-server.js';
import { testNatsClient, TEST_TUNING } from './helpers.js';

const BUCKET = 'tidemark-auth';
const T0 = Date.UTC(2024, 4, 5, 6, 7, 8, 9);
/** Few, short tries: these failures are permanent and must not be retried anyway. */
const TUNING = { ...TEST_TUNING, retry: { ...TEST_TUNING.retry, maxTries: 2 } };
let dir = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tidemark-nats-auth-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a file and reads it back through a client, the proof that the client got in. */
async function roundTrip(client: ReturnType<typeof testNatsClient>): Promise<void> {
  const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0 });
  await client.writeLtxFile(0, 1n, 1n, chunked(bytes));
  assert.ok(Buffer.from(await collect(await client.openLtxFile(0, 1n, 1n))).equals(bytes));
  await client.deleteAll();
  await client.close();
}

function authFailure(re: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof NatsStorageError, String(err));
    assert.match(err.message, re);
    assert.doesNotMatch(err.message, /\n/);
    assert.equal(isPermanentError(err), true);
    return true;
  };
}

/** Options with no user and password, for servers that take other credentials. */
const NO_USER = { username: undefined, password: undefined };

describe('NATS credentials against a real nats-server', () => {
  it('user and password: right ones get in, a wrong password fails once, naming where it came from', async () => {
    const server = await startNatsServer();
    try {
      await server.createBucket(BUCKET);
      await roundTrip(testNatsClient(server.port, BUCKET, TUNING));
      const wrong = testNatsClient(server.port, BUCKET, TUNING, { password: 'wrong' });
      await assert.rejects(wrong.init(), authFailure(/^nats:\/\/127\.0\.0\.1:\d+\/tidemark-auth: connecting: authorization failed \(.*Authorization Violation.*from the username and password options/i));
      assert.equal(wrong.connection.connects, 1, 'not retried');
    } finally {
      await server.stop();
    }
  });

  it('user and password in the URL', async () => {
    const server = await startNatsServer();
    try {
      await server.createBucket(BUCKET);
      const { createReplicaClient } = await import('../../../src/storage/replica-url.js');
      const client = createReplicaClient(`nats://${NATS_TEST_USER}:${encodeURIComponent(NATS_TEST_PASSWORD)}@127.0.0.1:${server.port}/${BUCKET}`);
      await client.init();
      const bytes = await makeLtxFile({ minTxid: 2n, maxTxid: 2n, timestamp: T0 });
      await client.writeLtxFile(0, 2n, 2n, chunked(bytes));
      assert.ok(Buffer.from(await collect(await client.openLtxFile(0, 2n, 2n))).equals(bytes));
    } finally {
      await server.stop();
    }
  });

  it('token', async () => {
    const token = 'tidemark-test-token-1234';
    const server = await startNatsServer({ config: `authorization { token: "${token}" }\n`, auth: { token } });
    try {
      await server.createBucket(BUCKET);
      await roundTrip(testNatsClient(server.port, BUCKET, TUNING, { ...NO_USER, token }));
      await assert.rejects(testNatsClient(server.port, BUCKET, TUNING, { ...NO_USER, token: 'wrong' }).init(), authFailure(/authorization failed .*from the token option/));
    } finally {
      await server.stop();
    }
  });

  it('nkey seed, given inline or as a file', async () => {
    const user = createUser();
    const seed = new TextDecoder().decode(user.getSeed());
    const { nkeyAuthenticator } = await import('@nats-io/transport-node');
    const server = await startNatsServer({
      config: `authorization { users: [ { nkey: "${user.getPublicKey()}" } ] }\n`,
      auth: { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) },
    });
    try {
      await server.createBucket(BUCKET);
      await roundTrip(testNatsClient(server.port, BUCKET, TUNING, { ...NO_USER, nkey: seed }));
      const seedFile = join(dir, 'user.nk');
      writeFileSync(seedFile, `${seed}\n`, { mode: 0o600 });
      await roundTrip(testNatsClient(server.port, BUCKET, TUNING, { ...NO_USER, nkey: seedFile }));
      const other = new TextDecoder().decode(createUser().getSeed());
      await assert.rejects(testNatsClient(server.port, BUCKET, TUNING, { ...NO_USER, nkey: other }).init(), authFailure(/authorization failed .*from the nkey option/));
    } finally {
      await server.stop();
    }
  });

  it('TLS with root-cas, and mutual TLS with client-cert and client-key', async () => {
    const pki = makePki(join(dir, 'pki'));
    const tlsBlock = (verify: boolean): string =>
      `tls { cert_file: "${pki.serverCert}", key_file: "${pki.serverKey}", ca_file: "${pki.ca}"${verify ? ', verify: true' : ''} }\n`;
    const { readFileSync } = await import('node:fs');
    const server = await startNatsServer({
      config: `${tlsBlock(false)}authorization { user: "${NATS_TEST_USER}", password: "${NATS_TEST_PASSWORD}" }\n`,
      auth: { user: NATS_TEST_USER, pass: NATS_TEST_PASSWORD, tls: { ca: readFileSync(pki.ca, 'utf8') } },
    });
    try {
      await server.createBucket(BUCKET);
      await roundTrip(testNatsClient(server.port, BUCKET, TUNING, { 'root-cas': pki.ca }));
      // Without the CA the server's certificate is not trusted: one line, not retried.
      await assert.rejects(testNatsClient(server.port, BUCKET, TUNING, { tls: true }).init(), authFailure(/TLS failed \(.*certificate.*check tls, root-cas/i));
    } finally {
      await server.stop();
    }
    const mutual = await startNatsServer({
      config: `${tlsBlock(true)}authorization { user: "${NATS_TEST_USER}", password: "${NATS_TEST_PASSWORD}" }\n`,
      auth: {
        user: NATS_TEST_USER,
        pass: NATS_TEST_PASSWORD,
        tls: { ca: readFileSync(pki.ca, 'utf8'), cert: readFileSync(pki.clientCert, 'utf8'), key: readFileSync(pki.clientKey, 'utf8') },
      },
    });
    try {
      await mutual.createBucket(BUCKET);
      await roundTrip(testNatsClient(mutual.port, BUCKET, TUNING, { 'root-cas': pki.ca, 'client-cert': pki.clientCert, 'client-key': pki.clientKey }));
      await assert.rejects(testNatsClient(mutual.port, BUCKET, TUNING, { 'root-cas': pki.ca, timeout: 2000 }).init(), (err: unknown) => {
        assert.ok(err instanceof NatsStorageError, String(err));
        // The server drops a TLS client without a certificate in the handshake; the client sees the connection time out.
        assert.match(err.message, /did not answer after 2 attempts \(TimeoutError.*refuse the client certificate|TLS failed/);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
    } finally {
      await mutual.stop();
    }
  });
});

interface Pki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A throwaway CA with a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
function makePki(at: string): Pki {
  execFileSync('mkdir', ['-p', at]);
  const p = (n: string): string => join(at, n);
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=tidemark test CA');
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    writeFileSync(p(`${name}.ext`), `${ext}\n`);
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=tidemark test ${name}`);
    ssl('x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p(`${name}.pem`), '-days', '2', '-extfile', p(`${name}.ext`));
  }
  return { ca: p('ca.pem'), serverCert: p('server.pem'), serverKey: p('server.key'), clientCert: p('client.pem'), clientKey: p('client.key') };
}
