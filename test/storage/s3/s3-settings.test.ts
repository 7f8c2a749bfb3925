import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReplicaUrlError } from '../../../src/storage/errors.js';
import { createReplicaClient, parseReplicaUrl, type RemoteReplicaUrl, type ReplicaClientOptions } from '../../../src/storage/replica-url.js';
import { detectS3Provider, ensureEndpointScheme, isLocalEndpoint, parseS3Host } from '../../../src/storage/s3/s3-endpoint.js';
import { S3ReplicaClient } from '../../../src/storage/s3/s3-replica-client.js';
import { describeS3Replica, resolveS3Settings, type S3Settings } from '../../../src/storage/s3/s3-settings.js';
import type { ReplicaClient } from '../../../src/storage/replica-client.js';

const KEY32 = Buffer.alloc(32, 7).toString('base64');

function settings(url: string, options: ReplicaClientOptions = {}, env: NodeJS.ProcessEnv = {}): S3Settings {
  const parsed = /^s3:\/\/\/?$/.test(url) ? undefined : (parseReplicaUrl(url) as RemoteReplicaUrl);
  return resolveS3Settings(parsed, url, options, env);
}

function refuses(url: string, options: ReplicaClientOptions, re: RegExp, env: NodeJS.ProcessEnv = {}): void {
  assert.throws(
    () => settings(url, options, env),
    (err: unknown) => {
      assert.ok(err instanceof ReplicaUrlError, String(err));
      assert.match(err.message, re);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    },
  );
}

describe('parseS3Host', () => {
  it('splits the host forms Litestream recognises', () => {
    const cases: [string, ReturnType<typeof parseS3Host>][] = [
      ['mybucket', { bucket: 'mybucket', region: undefined, endpoint: undefined, forcePathStyle: false }],
      ['my.dotted.bucket', { bucket: 'my.dotted.bucket', region: undefined, endpoint: undefined, forcePathStyle: false }],
      ['bkt.localhost:9000', { bucket: 'bkt', region: 'us-east-1', endpoint: 'http://localhost:9000', forcePathStyle: true }],
      ['bkt.minio.internal:9000', { bucket: 'bkt', region: 'us-east-1', endpoint: 'http://minio.internal:9000', forcePathStyle: true }],
      ['127.0.0.1:9000', { bucket: '', region: undefined, endpoint: 'http://127.0.0.1:9000', forcePathStyle: true }],
      ['localhost:9000', { bucket: '', region: undefined, endpoint: 'http://localhost:9000', forcePathStyle: true }],
      ['bkt.s3.amazonaws.com', { bucket: 'bkt', region: undefined, endpoint: undefined, forcePathStyle: false }],
      ['bkt.s3.eu-west-1.amazonaws.com', { bucket: 'bkt', region: 'eu-west-1', endpoint: undefined, forcePathStyle: false }],
      ['bkt.nyc3.digitaloceanspaces.com', { bucket: 'bkt', region: 'nyc3', endpoint: 'https://nyc3.digitaloceanspaces.com', forcePathStyle: false }],
      ['bkt.s3.us-west-000.backblazeb2.com', { bucket: 'bkt', region: 'us-west-000', endpoint: 'https://s3.us-west-000.backblazeb2.com', forcePathStyle: true }],
      ['bkt.s3.filebase.com', { bucket: 'bkt', region: undefined, endpoint: 'https://s3.filebase.com', forcePathStyle: false }],
      ['bkt.s3.fr-par.scw.cloud', { bucket: 'bkt', region: 'fr-par', endpoint: 'https://s3.fr-par.scw.cloud', forcePathStyle: false }],
    ];
    for (const [host, want] of cases) assert.deepEqual(parseS3Host(host), want, host);
  });
});

describe('S3 endpoints', () => {
  it('adds http:// to local endpoints and https:// to the rest', () => {
    assert.equal(ensureEndpointScheme('localhost:9000'), 'http://localhost:9000');
    assert.equal(ensureEndpointScheme('192.168.1.5:9000'), 'http://192.168.1.5:9000');
    assert.equal(ensureEndpointScheme('minio.local'), 'http://minio.local');
    assert.equal(ensureEndpointScheme('s3.example.com'), 'https://s3.example.com');
    assert.equal(ensureEndpointScheme('http://s3.example.com'), 'http://s3.example.com');
    assert.equal(isLocalEndpoint('https://10.1.2.3'), true);
    assert.equal(isLocalEndpoint('https://11.1.2.3'), false);
  });

  it('detects providers from the endpoint', () => {
    const cases: [string | undefined, string][] = [
      [undefined, 'aws'],
      ['https://fly.storage.tigris.dev', 'tigris'],
      ['https://t3.storage.dev', 'tigris'],
      ['https://nyc3.digitaloceanspaces.com', 'digitalocean'],
      ['https://s3.us-west-000.backblazeb2.com', 'backblaze'],
      ['https://s3.filebase.com', 'filebase'],
      ['https://s3.fr-par.scw.cloud', 'scaleway'],
      ['https://abc.r2.cloudflarestorage.com', 'cloudflare-r2'],
      ['https://proj.supabase.co', 'supabase'],
      ['https://fsn1.your-objectstorage.com', 'hetzner'],
      ['http://127.0.0.1:9000', 'minio'],
      ['http://minio:9000', 'minio'],
      ['https://s3.example.com', 'other'],
    ];
    for (const [endpoint, want] of cases) assert.equal(detectS3Provider(endpoint), want, String(endpoint));
  });
});

describe('resolveS3Settings', () => {
  it('takes a plain AWS URL with every default', () => {
    const s = settings('s3://bkt/some/path');
    assert.deepEqual(s, {
      bucket: 'bkt',
      path: 'some/path',
      region: undefined,
      endpoint: undefined,
      provider: 'aws',
      forcePathStyle: false,
      skipVerify: false,
      signPayload: true,
      requireContentMd5: true,
      partSize: 5 * 1024 * 1024,
      concurrency: 5,
      credentials: undefined,
      credentialSource: s.credentialSource,
      encryption: undefined,
    });
    assert.match(s.credentialSource, /default credential chain/);
    assert.equal(settings('s3://bkt').path, '');
  });

  it('defaults to path style and us-east-1 with a custom endpoint, unless told otherwise', () => {
    const s = settings('s3://bkt/db?endpoint=127.0.0.1:9000');
    assert.equal(s.endpoint, 'http://127.0.0.1:9000');
    assert.equal(s.region, 'us-east-1');
    assert.equal(s.forcePathStyle, true);
    assert.equal(s.provider, 'minio');
    assert.equal(settings('s3://bkt/db?endpoint=https://s3.example.com&forcePathStyle=false').forcePathStyle, false);
    assert.equal(settings('s3://bkt/db?endpoint=https://s3.example.com&force-path-style=false').forcePathStyle, false);
    assert.equal(settings('s3://bkt/db?endpoint=https://s3.example.com&region=eu-central-1').region, 'eu-central-1');
    assert.equal(settings('s3://bkt/db?forcePathStyle=true').forcePathStyle, true);
  });

  it('reads MinIO-style and provider hosts from the URL', () => {
    const minio = settings('s3://bkt.localhost:9000/db');
    assert.deepEqual([minio.bucket, minio.endpoint, minio.forcePathStyle, minio.region], ['bkt', 'http://localhost:9000', true, 'us-east-1']);
    const b2 = settings('s3://bkt.s3.us-west-000.backblazeb2.com/db');
    assert.deepEqual([b2.bucket, b2.provider, b2.forcePathStyle, b2.region], ['bkt', 'backblaze', true, 'us-west-000']);
    const fb = settings('s3://bkt.s3.filebase.com/db');
    assert.deepEqual([fb.endpoint, fb.provider, fb.forcePathStyle, fb.region], ['https://s3.filebase.com', 'filebase', true, 'us-east-1']);
    const dos = settings('s3://bkt.nyc3.digitaloceanspaces.com/db');
    assert.deepEqual([dos.endpoint, dos.forcePathStyle, dos.region], ['https://nyc3.digitaloceanspaces.com', false, 'nyc3']);
    const aws = settings('s3://bkt.s3.ap-south-1.amazonaws.com/db');
    assert.deepEqual([aws.bucket, aws.endpoint, aws.region], ['bkt', undefined, 'ap-south-1']);
  });

  it('applies provider defaults: Tigris drops Content-MD5, R2 uploads two parts at a time, Supabase is path style', () => {
    const tigris = settings('s3://bkt/db?endpoint=https://fly.storage.tigris.dev');
    assert.deepEqual([tigris.provider, tigris.requireContentMd5, tigris.signPayload], ['tigris', false, true]);
    assert.equal(settings('s3://bkt/db?endpoint=https://fly.storage.tigris.dev&requireContentMD5=true').requireContentMd5, true);
    const r2 = settings('s3://bkt/db?endpoint=https://acct.r2.cloudflarestorage.com');
    assert.equal(r2.concurrency, 2);
    assert.equal(settings('s3://bkt/db?endpoint=https://acct.r2.cloudflarestorage.com', { concurrency: 4 }).concurrency, 4);
    assert.equal(settings('s3://bkt/db', { endpoint: 'https://proj.supabase.co/storage/v1/s3' }).forcePathStyle, true);
  });

  it('takes the other query options in camelCase or kebab-case', () => {
    const a = settings('s3://bkt/db?skipVerify=true&signPayload=false&requireContentMD5=false&concurrency=3&partSize=10485760');
    const b = settings('s3://bkt/db?skip-verify=yes&sign-payload=0&require-content-md5=f&concurrency=3&part-size=10MiB');
    for (const s of [a, b]) {
      assert.deepEqual([s.skipVerify, s.signPayload, s.requireContentMd5, s.concurrency, s.partSize], [true, false, false, 3, 10 * 1024 * 1024]);
    }
  });

  it('lets replica options win over the URL, except skip-verify, where the URL query wins', () => {
    const s = settings('s3://bkt/db?endpoint=http://localhost:9000&region=eu-west-1&skipVerify=false&concurrency=2', {
      endpoint: 'https://s3.example.com',
      region: 'us-west-2',
      'skip-verify': true,
      concurrency: '7',
      'part-size': '8MB',
      'force-path-style': false,
      'sign-payload': 'false',
    });
    assert.deepEqual(
      [s.endpoint, s.region, s.skipVerify, s.concurrency, s.partSize, s.forcePathStyle, s.signPayload],
      ['https://s3.example.com', 'us-west-2', false, 7, 8_000_000, false, false],
    );
    assert.equal(settings('s3://bkt/db', { 'skip-verify': 'true' }).skipVerify, true);
  });

  it('builds a replica from options alone, and refuses a bucket or path given twice', () => {
    const s = settings('s3://', { bucket: 'bkt', path: '/a/b/', endpoint: 'localhost:9000', type: 's3', 'sync-interval': '1s' });
    assert.deepEqual([s.bucket, s.path, s.endpoint], ['bkt', 'a/b', 'http://localhost:9000']);
    refuses('s3://bkt/db', { bucket: 'other' }, /both a URL and the bucket option/);
    refuses('s3://bkt/db', { path: 'x' }, /both a URL and the path option/);
    refuses('s3://', {}, /bucket required/);
    refuses('s3://127.0.0.1:9000/db', {}, /bucket required/);
  });

  it('keeps an access point ARN as the bucket and takes its region', () => {
    const s = settings('s3://arn:aws:s3:eu-north-1:123456789012:accesspoint/my-ap/db/main');
    assert.deepEqual([s.bucket, s.path, s.region, s.endpoint], ['arn:aws:s3:eu-north-1:123456789012:accesspoint/my-ap', 'db/main', 'eu-north-1', undefined]);
  });

  it('refuses values it cannot use, naming the key', () => {
    refuses('s3://bkt/db?forcePathStyle=maybe', {}, /forcePathStyle=maybe is not a boolean/);
    refuses('s3://bkt/db', { 'sign-payload': 'sometimes' }, /option sign-payload must be true or false/);
    refuses('s3://bkt/db?partSize=1000', {}, /part-size "1000" is below S3's minimum part size of 5 MiB/);
    refuses('s3://bkt/db', { 'part-size': 'huge' }, /part-size "huge" is not a byte size/);
    refuses('s3://bkt/db?concurrency=0', {}, /concurrency "0" must be a whole number/);
    refuses('s3://bkt/db', { concurrency: 2.5 }, /concurrency 2.5 must be a whole number/);
    refuses('s3://bkt/db', { endpoint: 'http://' }, /endpoint .* is not a valid URL|has no host/);
    refuses('s3://bkt/db', { region: 5 }, /option region must be a string/);
  });

  it('takes credentials from options, then TIDEMARK_* or LITESTREAM_* when AWS_* is unset, else the default chain', () => {
    const fromOptions = settings('s3://bkt/db', { 'access-key-id': 'AK', 'secret-access-key': 'SK' }, { LITESTREAM_ACCESS_KEY_ID: 'L', LITESTREAM_SECRET_ACCESS_KEY: 'LS' });
    assert.deepEqual(fromOptions.credentials, { accessKeyId: 'AK', secretAccessKey: 'SK' });
    const lite = settings('s3://bkt/db', {}, { LITESTREAM_ACCESS_KEY_ID: 'L', LITESTREAM_SECRET_ACCESS_KEY: 'LS' });
    assert.deepEqual(lite.credentials, { accessKeyId: 'L', secretAccessKey: 'LS' });
    assert.match(lite.credentialSource, /LITESTREAM_ACCESS_KEY_ID/);
    const tide = settings('s3://bkt/db', {}, { TIDEMARK_ACCESS_KEY_ID: 'T', TIDEMARK_SECRET_ACCESS_KEY: 'TS', LITESTREAM_ACCESS_KEY_ID: 'L', LITESTREAM_SECRET_ACCESS_KEY: 'LS' });
    assert.deepEqual(tide.credentials, { accessKeyId: 'T', secretAccessKey: 'TS' });
    const aws = settings('s3://bkt/db', {}, { AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 'AS', LITESTREAM_ACCESS_KEY_ID: 'L', LITESTREAM_SECRET_ACCESS_KEY: 'LS' });
    assert.equal(aws.credentials, undefined);
    refuses('s3://bkt/db', { 'access-key-id': 'AK' }, /secret-access-key is not/);
    refuses('s3://bkt/db', {}, /LITESTREAM_SECRET_ACCESS_KEY is not/, { LITESTREAM_ACCESS_KEY_ID: 'L' });
  });

  it('uses LITESTREAM_S3_ENDPOINT when no endpoint is given', () => {
    const s = settings('s3://bkt/db', {}, { LITESTREAM_S3_ENDPOINT: 'localhost:9000' });
    assert.deepEqual([s.endpoint, s.forcePathStyle], ['http://localhost:9000', true]);
    assert.equal(settings('s3://bkt/db?endpoint=https://x.example.com', {}, { LITESTREAM_S3_ENDPOINT: 'localhost:9000' }).endpoint, 'https://x.example.com');
  });

  it('checks server-side encryption settings', async () => {
    assert.deepEqual(settings('s3://bkt/db', { 'sse-customer-key': KEY32 }).encryption, { kind: 'customer', algorithm: 'AES256', key: KEY32 });
    assert.deepEqual(settings(`s3://bkt/db?sseCustomerKey=${encodeURIComponent(KEY32)}`).encryption?.kind, 'customer');
    assert.deepEqual(settings('s3://bkt/db', { 'sse-kms-key-id': 'alias/x' }).encryption, { kind: 'kms', keyId: 'alias/x' });
    const dir = await mkdtemp(join(tmpdir(), 'tidemark-sse-'));
    try {
      const path = join(dir, 'key');
      await writeFile(path, `  ${KEY32}\n`);
      assert.deepEqual(settings('s3://bkt/db', { 'sse-customer-key-path': path }).encryption, { kind: 'customer', algorithm: 'AES256', key: KEY32 });
      refuses('s3://bkt/db', { 'sse-customer-key-path': join(dir, 'missing') }, /cannot read sse-customer-key-path/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    refuses('s3://bkt/db', { 'sse-customer-key': KEY32, 'sse-kms-key-id': 'k' }, /mutually exclusive/);
    refuses('s3://bkt/db', { 'sse-customer-key': KEY32, 'sse-customer-algorithm': 'AES128' }, /must be AES256/);
    refuses('s3://bkt/db', { 'sse-customer-key': Buffer.alloc(16).toString('base64') }, /exactly 32 bytes/);
    refuses('s3://bkt/db', { 'sse-customer-algorithm': 'AES256' }, /no sse-customer-key/);
    refuses('s3://bkt/db?endpoint=http://s3.example.com', { 'sse-customer-key': KEY32 }, /needs an https endpoint/);
    assert.equal(settings('s3://bkt/db?endpoint=http://localhost:9000', { 'sse-customer-key': KEY32 }).encryption?.kind, 'customer');
  });
});

describe('createReplicaClient for s3', () => {
  it('builds an S3 client from a URL, from options alone, and passes options through', () => {
    const a = createReplicaClient('s3://bkt/db?endpoint=http://127.0.0.1:9000') as ReplicaClient & { name: string };
    assert.equal(a.type, 's3');
    assert.equal(a.name, 's3://bkt/db at http://127.0.0.1:9000');
    const b = createReplicaClient('s3://', { bucket: 'bkt', path: 'x', region: 'eu-west-3' }) as ReplicaClient & { name: string };
    assert.equal(b.name, describeS3Replica(resolveS3Settings(undefined, 's3://', { bucket: 'bkt', path: 'x', region: 'eu-west-3' })));
    const direct = new S3ReplicaClient(resolveS3Settings(undefined, 's3://', { bucket: 'bkt', path: 'x', region: 'eu-west-3' }));
    assert.deepEqual([direct.settings.bucket, direct.settings.path, direct.settings.region], ['bkt', 'x', 'eu-west-3']);
    direct.destroy();
    assert.throws(() => createReplicaClient('s3://bkt/db?partSize=12'), ReplicaUrlError);
  });
});
