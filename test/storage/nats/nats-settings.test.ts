import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../../src/config/parse-config.js';
import { ReplicaUrlError } from '../../../src/storage/errors.js';
import { NatsStorageError } from '../../../src/storage/nats/nats-errors.js';
import { isPermanentError } from '../../../src/storage/permanent-error.js';
import { describeNatsReplica, resolveNatsSettings, type NatsSettings } from '../../../src/storage/nats/nats-settings.js';
import { createReplicaClient, parseReplicaUrl, type RemoteReplicaUrl, type ReplicaClientOptions } from '../../../src/storage/replica-url.js';

const SEED = 'SUANSNN6VMQSJPKDWWOYIFB42WMUPUC4VHNAW7LL4W25BSG45OJA7JIDVQ';
let dir = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tidemark-nats-settings-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function resolve(url: string, options: ReplicaClientOptions = {}): NatsSettings {
  return resolveNatsSettings(parseReplicaUrl(url) as RemoteReplicaUrl, url, options);
}

function file(name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, body);
  return p;
}

function refuses(url: string, options: ReplicaClientOptions, re: RegExp): void {
  assert.throws(
    () => resolve(url, options),
    (err: unknown) => {
      assert.ok(err instanceof ReplicaUrlError, String(err));
      assert.match(err.message, re);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    },
  );
}

describe('resolveNatsSettings: URL forms and options as Litestream reads them', () => {
  it('nats://host:port/bucket, with Litestream defaults for the connection', () => {
    assert.deepEqual(resolve('nats://nats.example.com:4222/litestream-backups'), {
      server: 'nats://nats.example.com:4222',
      bucket: 'litestream-backups',
      auth: { kind: 'none' },
      authSource: 'no credentials',
      tls: undefined,
      maxReconnects: -1,
      reconnectWaitMs: 2000,
      connectTimeoutMs: 10_000,
    });
    assert.equal(describeNatsReplica(resolve('nats://h/b_1')), 'nats://h/b_1');
  });

  it('takes user and password from the URL, and the options over them', () => {
    assert.deepEqual(resolve('nats://me:p%40ss@h:4222/b').auth, { kind: 'user', username: 'me', password: 'p@ss' });
    assert.equal(resolve('nats://me:pw@h/b').authSource, 'the URL');
    assert.deepEqual(resolve('nats://me:pw@h/b', { username: 'other', password: 'x' }).auth, { kind: 'user', username: 'other', password: 'x' });
  });

  it('the bucket option stands in for a URL without one; both must agree', () => {
    assert.equal(resolve('nats://h:4222', { bucket: 'b' }).bucket, 'b');
    assert.equal(resolve('nats://h/b', { bucket: 'b' }).bucket, 'b');
    refuses('nats://h/a', { bucket: 'b' }, /cannot specify both a URL bucket and the bucket option/);
    refuses('nats://h:4222', {}, /needs a bucket: nats:\/\/HOST\[:PORT\]\/BUCKET or the bucket option/);
    refuses('nats://h/b/sub', {}, /bucket name "b\/sub" is not valid .*no path inside its bucket/);
    refuses('nats://h/b.x', {}, /bucket name "b\.x" is not valid/);
  });

  it('credentials in Litestream priority: jwt+seed, creds, nkey, user/password, token', () => {
    const creds = file('user.creds', `-----BEGIN NATS USER JWT-----\neyJhbGciOi.x.y\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${SEED}\n------END USER NKEY SEED------\n`);
    const all = { jwt: 'eyJ.a.b', seed: SEED, creds, nkey: SEED, username: 'u', password: 'p', token: 't' };
    assert.equal(resolve('nats://h/b', all).auth.kind, 'jwt');
    assert.equal(resolve('nats://h/b', { ...all, jwt: undefined }).auth.kind, 'creds');
    assert.equal(resolve('nats://h/b', { ...all, jwt: undefined, creds: undefined }).auth.kind, 'nkey');
    assert.equal(resolve('nats://h/b', { ...all, jwt: undefined, creds: undefined, nkey: undefined }).auth.kind, 'user');
    assert.deepEqual(resolve('nats://h/b', { token: 't' }).auth, { kind: 'token', token: 't' });
    // A user without a password is not a credential, as in Litestream; a token is then used.
    assert.equal(resolve('nats://h/b', { username: 'u', token: 't' }).auth.kind, 'token');
    refuses('nats://h/b', { username: 'u' }, /user "u" has no password/);
  });

  it('nkey is a user seed or a file holding one; files named by options are read at once', () => {
    assert.deepEqual(resolve('nats://h/b', { nkey: SEED }).auth, { kind: 'nkey', seed: SEED });
    assert.deepEqual(resolve('nats://h/b', { nkey: file('user.nk', `${SEED}\n`) }).auth, { kind: 'nkey', seed: SEED });
    refuses('nats://h/b', { nkey: 'UBC6AVHBQWBID5SZEQRG2Q64SOKGWYILSQSWZ24A3SQF6C4X44XNFW3B' }, /cannot read the nkey seed file/);
    refuses('nats://h/b', { nkey: file('junk.nk', 'nothing here') }, /nkey must be a user nkey seed \(SU…\) or a file holding one/);
    refuses('nats://h/b', { creds: join(dir, 'missing.creds') }, /cannot read the creds file ".*missing\.creds" \(ENOENT\)/);
    refuses('nats://h/b', { creds: file('bad.creds', 'x') }, /holds no NATS user JWT/);
    refuses('nats://h/b', { jwt: 'eyJ.a.b', seed: 'nope' }, /seed must be a user nkey seed/);
  });

  it('TLS: on with tls: true or any certificate option, cert and key only together, files read at once', () => {
    assert.equal(resolve('nats://h/b', { tls: false }).tls, undefined);
    assert.deepEqual(resolve('nats://h/b', { tls: true }).tls, { ca: undefined, cert: undefined, key: undefined });
    const ca1 = file('ca1.pem', 'CA ONE\n');
    const ca2 = file('ca2.pem', 'CA TWO\n');
    assert.equal(resolve('nats://h/b', { 'root-cas': `${ca1},${ca2}` }).tls?.ca, 'CA ONE\n\nCA TWO\n');
    const cert = file('c.pem', 'CERT');
    const key = file('k.pem', 'KEY');
    assert.deepEqual(resolve('nats://h/b', { 'client-cert': cert, 'client-key': key }).tls, { ca: undefined, cert: 'CERT', key: 'KEY' });
    refuses('nats://h/b', { 'client-cert': cert }, /client-cert and client-key must be given together/);
    refuses('nats://h/b', { 'root-cas': join(dir, 'none.pem') }, /cannot read the root CA file/);
    refuses('nats://h/b', { tls: 'yes' }, /option tls must be true or false/);
  });

  it('max-reconnects, reconnect-wait and timeout', () => {
    const s = resolve('nats://h/b', { 'max-reconnects': 5, 'reconnect-wait': 250, timeout: 3000 });
    assert.deepEqual([s.maxReconnects, s.reconnectWaitMs, s.connectTimeoutMs], [5, 250, 3000]);
    refuses('nats://h/b', { 'max-reconnects': -2 }, /max-reconnects must be an integer of at least -1/);
    refuses('nats://h/b', { timeout: 0 }, /timeout must be an integer of at least 1/);
  });
});

describe('nats replicas from URLs and litestream.yml', () => {
  it('createReplicaClient gives a nats client without loading the client packages, and checks settings at once', () => {
    const c = createReplicaClient('nats://127.0.0.1:4222/my-bucket');
    assert.equal(c.type, 'nats');
    assert.throws(() => createReplicaClient('nats://127.0.0.1:4222/a/b'), /nats:\/\/127\.0\.0\.1:4222\/a\/b.*not valid/);
  });

  it("Litestream's own example (etc/litestream.yml) loads unchanged and makes a nats client", () => {
    const ca = file('ca.pem', 'CA');
    const cert = file('client.pem', 'CERT');
    const key = file('client.key', 'KEY');
    // Litestream's example, uncommented, with the file paths pointing at files that exist.
    const yaml = `dbs:
  - path: /path/to/primary/db
    replica:
      type: nats
      url: nats://nats.example.com:4222
      bucket: litestream-backups
      client-cert: ${cert}
      client-key: ${key}
      root-cas: [${ca}]
`;
    const config = parseConfig(yaml, { filename: '/etc/litestream.yml', env: {}, cwd: '/', homeDir: '/root', checkDirs: false });
    const r = config.dbs[0]!.replica;
    assert.equal(r.url, 'nats://nats.example.com:4222/litestream-backups');
    const client = createReplicaClient(r.url, r.options);
    assert.equal(client.type, 'nats');
    const s = resolveNatsSettings(parseReplicaUrl(r.url) as RemoteReplicaUrl, r.url, r.options);
    assert.deepEqual(s.tls, { ca: 'CA', cert: 'CERT', key: 'KEY' });
    assert.equal(s.bucket, 'litestream-backups');
  });

  it('a config with user and password in the URL, and the connection keys', () => {
    const yaml = `dbs:
  - path: /db
    replica:
      url: nats://me:secret@nats.local:4222/backups
      max-reconnects: 10
      reconnect-wait: 500ms
      timeout: 3s
`;
    const r = parseConfig(yaml, { filename: '/etc/litestream.yml', env: {}, cwd: '/', homeDir: '/root', checkDirs: false }).dbs[0]!.replica;
    const s = resolveNatsSettings(parseReplicaUrl(r.url) as RemoteReplicaUrl, r.url, r.options);
    assert.deepEqual(s.auth, { kind: 'user', username: 'me', password: 'secret' });
    assert.deepEqual([s.server, s.maxReconnects, s.reconnectWaitMs, s.connectTimeoutMs], ['nats://nats.local:4222', 10, 500, 3000]);
  });
});

describe('NatsStorageError', () => {
  it('tells isPermanentError whether retrying can help', () => {
    assert.equal(isPermanentError(new NatsStorageError('x', { code: 'AuthorizationError', permanent: true })), true);
    assert.equal(isPermanentError(new NatsStorageError('x', { code: 'ECONNREFUSED' })), false);
  });
});
