import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReplicaUrlError } from '../../../src/storage/errors.js';
import { LazyReplicaClient } from '../../../src/storage/lazy-replica-client.js';
import { describeGsReplica, GS_ADC_FALLBACK, resolveGsSettings, type GsSettings } from '../../../src/storage/gs/gs-settings.js';
import { gsLevelPrefix, gsLtxObjectName, gsRootPrefix, gsSeekOffset } from '../../../src/storage/gs/gs-key-layout.js';
import { GsAttemptsFailure, GsRetry, GsTryTimeoutError, isRetryableGsError } from '../../../src/storage/gs/gs-retry.js';
import { GsHttpError } from '../../../src/storage/gs/gs-media-read.js';
import { toGsStorageError } from '../../../src/storage/gs/gs-errors.js';
import { isPermanentError } from '../../../src/storage/permanent-error.js';
import { createReplicaClient, parseReplicaUrl, type RemoteReplicaUrl, type ReplicaClientOptions } from '../../../src/storage/replica-url.js';
import { canReadV03 } from '../../../src/storage/v03-reader.js';

function resolve(url: string, options: ReplicaClientOptions = {}, env: NodeJS.ProcessEnv = {}): GsSettings {
  return resolveGsSettings(parseReplicaUrl(url) as RemoteReplicaUrl, url, options, env);
}

function rejects(url: string, options: ReplicaClientOptions, env: NodeJS.ProcessEnv, re: RegExp): void {
  assert.throws(
    () => resolve(url, options, env),
    (err: unknown) => {
      assert.ok(err instanceof ReplicaUrlError, String(err));
      assert.match(err.message, re);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    },
  );
}

describe('resolveGsSettings', () => {
  it('gs://bucket/path, with Application Default Credentials when nothing names a key file', () => {
    const s = resolve('gs://mybkt/path/to/db');
    assert.deepEqual(s, { bucket: 'mybkt', path: 'path/to/db', emulatorEndpoint: undefined, keyFilename: undefined, credentialSource: GS_ADC_FALLBACK });
    assert.equal(describeGsReplica(s), 'gs://mybkt/path/to/db');
    assert.equal(resolve('gs://mybkt').path, '');
  });

  it('the bucket and path options of a config file stand in for the URL parts, and may not contradict them', () => {
    assert.equal(resolve('gs://mybkt', { bucket: 'mybkt', path: '/db/' }).path, 'db');
    assert.equal(resolve('gs://mybkt/db', { path: 'db' }).path, 'db');
    rejects('gs://mybkt/db', { path: 'other' }, {}, /cannot specify both a URL path and the path option for a gs replica/);
    rejects('gs://mybkt/db', { bucket: 'other' }, {}, /cannot specify both a URL bucket and the bucket option/);
    rejects('gs://mybkt/db', { path: 5 }, {}, /option path must be a string/);
  });

  it("refuses bucket names GCS would refuse, naming the rule", () => {
    for (const bad of ['ab', 'My-Bucket', '-bucket', 'bucket-', 'a'.repeat(64), 'a..b', `${'a'.repeat(64)}.com`]) {
      rejects(`gs://${bad}/db`, {}, {}, /bucket name .* is not valid on Google Cloud Storage/);
    }
    for (const good of ['abc', 'my_bucket-1', 'mybkt.litestream.io', `${'a'.repeat(63)}.${'b'.repeat(63)}`]) {
      assert.equal(resolve(`gs://${good}/db`).bucket, good);
    }
  });

  it('STORAGE_EMULATOR_HOST: host:port means http, as in Go; a URL is kept; the replica is named with it; no credentials are used', () => {
    const a = resolve('gs://mybkt/db', {}, { STORAGE_EMULATOR_HOST: 'localhost:4443', GOOGLE_APPLICATION_CREDENTIALS: '/nonexistent.json' });
    assert.equal(a.emulatorEndpoint, 'http://localhost:4443');
    assert.equal(a.keyFilename, undefined);
    assert.match(a.credentialSource, /STORAGE_EMULATOR_HOST is set/);
    assert.equal(describeGsReplica(a), 'gs://mybkt/db at http://localhost:4443');
    assert.equal(resolve('gs://mybkt/db', {}, { STORAGE_EMULATOR_HOST: 'https://127.0.0.1:9199/' }).emulatorEndpoint, 'https://127.0.0.1:9199');
    rejects('gs://mybkt/db', {}, { STORAGE_EMULATOR_HOST: 'ftp://x:1' }, /STORAGE_EMULATOR_HOST="ftp:\/\/x:1" must be host:port or start with http/);
    rejects('gs://mybkt/db', {}, { STORAGE_EMULATOR_HOST: 'http://' }, /STORAGE_EMULATOR_HOST="http:\/\/" is not a host:port or URL/);
  });

  it('GOOGLE_APPLICATION_CREDENTIALS: the key file is passed on, and one that cannot be read is refused at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-gs-key-'));
    try {
      const key = join(dir, 'sa.json');
      writeFileSync(key, '{}');
      const s = resolve('gs://mybkt/db', {}, { GOOGLE_APPLICATION_CREDENTIALS: key });
      assert.equal(s.keyFilename, key);
      assert.equal(s.credentialSource, `the key file ${key} (GOOGLE_APPLICATION_CREDENTIALS)`);
      rejects('gs://mybkt/db', {}, { GOOGLE_APPLICATION_CREDENTIALS: join(dir, 'missing.json') }, /the key file GOOGLE_APPLICATION_CREDENTIALS names \(.*missing\.json\) cannot be read: ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('createReplicaClient for gs://', () => {
  it('makes a lazily loaded client, checking settings at once (it does not read Litestream v0.3 backups)', () => {
    const c = createReplicaClient('gs://mybkt/db');
    assert.ok(c instanceof LazyReplicaClient);
    assert.equal(c.type, 'gs');
    assert.equal(c.name, 'gs://mybkt/db');
    assert.equal(canReadV03(c), false);
    assert.throws(() => createReplicaClient('gs://Bad_Bucket/db'), ReplicaUrlError);
    assert.throws(() => createReplicaClient('gs:///db'), /missing bucket/);
  });
});

describe('gs key layout', () => {
  it("is Litestream's: <path>/ltx/<level>/<min>-<max>.ltx, ltx/ at the bucket root", () => {
    assert.equal(gsLtxObjectName('a/b', 0, 1n, 2n), 'a/b/ltx/0/0000000000000001-0000000000000002.ltx');
    assert.equal(gsLtxObjectName('', 9, 1n, 0xffffffffffffffffn), 'ltx/9/0000000000000001-ffffffffffffffff.ltx');
    assert.equal(gsLevelPrefix('db', 12), 'db/ltx/12/');
    assert.equal(gsRootPrefix(''), 'ltx/');
    assert.equal(gsRootPrefix('db'), 'db/');
    assert.equal(gsSeekOffset('db/ltx/0/', 0n), undefined);
    assert.equal(gsSeekOffset('db/ltx/0/', 0x2an), 'db/ltx/0/000000000000002a');
  });
});

describe('gs retries and errors', () => {
  it("retries what Google's clients retry, and nothing that retrying cannot fix", () => {
    for (const status of [408, 429, 500, 502, 503, 504]) assert.equal(isRetryableGsError(new GsHttpError(status, 'x', [])), true, String(status));
    for (const status of [400, 401, 403, 404, 412, 416]) assert.equal(isRetryableGsError(new GsHttpError(status, 'x', [])), false, String(status));
    assert.equal(isRetryableGsError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), true);
    assert.equal(isRetryableGsError(new GsTryTimeoutError(5)), true);
    assert.equal(isRetryableGsError(new Error('socket hang up')), true);
    assert.equal(isRetryableGsError(new TypeError('bad argument')), false);
  });

  it('backs off from 1 s, doubling, up to 30 s, with jitter in the upper half', () => {
    const lo = new GsRetry({ random: () => 0 });
    const hi = new GsRetry({ random: () => 0.999999 });
    assert.deepEqual([0, 1, 2, 5, 10].map((n) => lo.delayMs(n)), [500, 1000, 2000, 15_000, 15_000]);
    assert.deepEqual([0, 1, 2, 5, 10].map((n) => hi.delayMs(n)), [1000, 2000, 4000, 30_000, 30_000]);
  });

  it('tries that send no data get the shorter deadline, never longer than the other', () => {
    assert.equal(new GsRetry().shortTryTimeoutMs, 30_000);
    assert.equal(new GsRetry().tryTimeoutMs, 120_000);
    assert.equal(new GsRetry({ tryTimeoutMs: 10_000 }).shortTryTimeoutMs, 10_000);
  });

  it('a try that gets no answer is abandoned at its deadline and tried again', async () => {
    const retry = new GsRetry({ maxTries: 3, retryDelayMs: 1, maxRetryDelayMs: 2, tryTimeoutMs: 60_000, shortTryTimeoutMs: 50 });
    let tries = 0;
    await assert.rejects(
      retry.run(
        undefined,
        () => {
          tries++;
          return new Promise<never>(() => undefined);
        },
        true,
      ),
      (err: unknown) => err instanceof GsAttemptsFailure && err.attempts === 3 && err.error instanceof GsTryTimeoutError && err.error.timeoutMs === 50,
    );
    assert.equal(tries, 3);
  });

  it('maps failures to one line naming the replica and what to check, permanent where retrying cannot help', () => {
    const ctx = { replica: 'gs://b1/db', bucket: 'b1', doing: 'listing db/ltx/0/', credentialSource: 'the key file /k.json (GOOGLE_APPLICATION_CREDENTIALS)' };
    const cases: [unknown, RegExp, boolean][] = [
      [new GsHttpError(404, 'The specified bucket does not exist.', [{ reason: 'notFound' }]), /^gs:\/\/b1\/db: listing db\/ltx\/0\/: bucket "b1" does not exist \(notFound: The specified bucket does not exist\.\); create it/, true],
      [new GsHttpError(401, 'Invalid Credentials', [{ reason: 'authError' }]), /not authenticated \(authError: Invalid Credentials\); check the credentials \(the key file \/k\.json/, true],
      [new GsHttpError(403, 'no storage.objects.list', [{ reason: 'forbidden' }]), /access denied \(forbidden: no storage\.objects\.list\)/, true],
      [new GsAttemptsFailure(new GsHttpError(503, 'Backend Error', [{ reason: 'backendError' }]), 5), /Google Cloud Storage kept failing after 5 attempts \(backendError: Backend Error, HTTP 503\)/, false],
      [new GsAttemptsFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), 5), /cannot reach Google Cloud Storage after 5 attempts \(ECONNREFUSED/, false],
      [Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' }), /cannot resolve Google Cloud Storage's host/, false],
      [
        new Error('Could not load the default credentials. Browse to https://cloud.google.com/docs/authentication/getting-started for more information.'),
        /^gs:\/\/b1\/db: listing db\/ltx\/0\/: no credentials found: set GOOGLE_APPLICATION_CREDENTIALS to a key file, run gcloud auth application-default login, or run on Google Cloud/,
        true,
      ],
    ];
    for (const [err, re, permanent] of cases) {
      const e = toGsStorageError(err, ctx);
      assert.match(e.message, re);
      assert.doesNotMatch(e.message, /\n/);
      assert.equal(isPermanentError(e), permanent, e.message);
    }
  });
});
