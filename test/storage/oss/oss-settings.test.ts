import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../src/config/parse-config.js';
import { ReplicaUrlError } from '../../../src/storage/errors.js';
import { DEFAULT_OSS_CONCURRENCY, DEFAULT_OSS_REGION, ossS3Endpoint, parseOssHost, resolveOssSettings } from '../../../src/storage/oss/oss-settings.js';
import { createReplicaClient, parseReplicaUrl, type RemoteReplicaUrl, type ReplicaClientOptions } from '../../../src/storage/replica-url.js';
import { describeS3Replica, type S3Settings } from '../../../src/storage/s3/s3-settings.js';

const KEYS: ReplicaClientOptions = { 'access-key-id': 'LTAIexample', 'secret-access-key': 'secret-example' };

function settings(url: string, options: ReplicaClientOptions = KEYS, env: NodeJS.ProcessEnv = {}): S3Settings {
  return resolveOssSettings(parseReplicaUrl(url) as RemoteReplicaUrl, url, options, env);
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

describe('parseOssHost', () => {
  it("splits the host forms Litestream's OSS client recognises", () => {
    const cases: [string, ReturnType<typeof parseOssHost>][] = [
      ['mybucket', { bucket: 'mybucket', region: undefined, internal: false }],
      ['mybucket.oss-cn-hangzhou.aliyuncs.com', { bucket: 'mybucket', region: 'cn-hangzhou', internal: false }],
      ['mybucket.oss-ap-southeast-1.aliyuncs.com', { bucket: 'mybucket', region: 'ap-southeast-1', internal: false }],
      ['mybucket.oss-cn-shanghai-internal.aliyuncs.com', { bucket: 'mybucket', region: 'cn-shanghai', internal: true }],
      ['oss-cn-beijing.aliyuncs.com', { bucket: '', region: 'cn-beijing', internal: false }],
    ];
    for (const [host, want] of cases) assert.deepEqual(parseOssHost(host), want, host);
  });
});

describe('resolveOssSettings', () => {
  it('a bare bucket goes to the S3-compatible endpoint of cn-hangzhou, virtual-hosted, three parts at a time', () => {
    const s = settings('oss://mybucket/db/app');
    assert.equal(s.scheme, 'oss');
    assert.equal(s.bucket, 'mybucket');
    assert.equal(s.path, 'db/app');
    assert.equal(s.region, DEFAULT_OSS_REGION);
    assert.equal(s.endpoint, 'https://s3.oss-cn-hangzhou.aliyuncs.com');
    assert.equal(s.forcePathStyle, false);
    assert.equal(s.concurrency, DEFAULT_OSS_CONCURRENCY);
    assert.deepEqual(s.credentials, { accessKeyId: 'LTAIexample', secretAccessKey: 'secret-example' });
  });

  it('the region comes from the host, and the region key wins over it', () => {
    assert.equal(settings('oss://b.oss-cn-shenzhen.aliyuncs.com/p').region, 'cn-shenzhen');
    assert.equal(settings('oss://b.oss-cn-shenzhen.aliyuncs.com/p').endpoint, ossS3Endpoint('cn-shenzhen', false));
    const s = settings('oss://b.oss-cn-shenzhen.aliyuncs.com/p', { ...KEYS, region: 'eu-central-1' });
    assert.equal(s.region, 'eu-central-1');
    assert.equal(s.endpoint, 'https://s3.oss-eu-central-1.aliyuncs.com');
  });

  it('an -internal host uses the internal endpoint', () => {
    assert.equal(settings('oss://b.oss-cn-shanghai-internal.aliyuncs.com/p').endpoint, 'https://s3.oss-cn-shanghai-internal.aliyuncs.com');
  });

  it('an endpoint key replaces the regional endpoint; a scheme is added when it has none', () => {
    assert.equal(settings('oss://b/p', { ...KEYS, endpoint: 'oss-cn-hangzhou.aliyuncs.com' }).endpoint, 'https://oss-cn-hangzhou.aliyuncs.com');
    assert.equal(settings('oss://b/p', { ...KEYS, endpoint: 'http://127.0.0.1:9000' }).endpoint, 'http://127.0.0.1:9000');
    assert.equal(settings('oss://b/p', { ...KEYS, endpoint: '127.0.0.1:9000' }).endpoint, 'http://127.0.0.1:9000');
  });

  it('credentials come from OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET when the keys are not set', () => {
    const s = settings('oss://b/p', {}, { OSS_ACCESS_KEY_ID: 'env-id', OSS_ACCESS_KEY_SECRET: 'env-secret', AWS_ACCESS_KEY_ID: 'aws-id' });
    assert.deepEqual(s.credentials, { accessKeyId: 'env-id', secretAccessKey: 'env-secret' });
    assert.match(s.credentialSource, /OSS_ACCESS_KEY_ID/);
  });

  it('part-size and concurrency pass through to the uploader', () => {
    const s = settings('oss://b/p', { ...KEYS, 'part-size': '8MB', concurrency: 7 });
    assert.equal(s.partSize, 8_000_000);
    assert.equal(s.concurrency, 7);
  });

  it('refuses, in one line: no credentials, half a key pair, no bucket, a bad part size', () => {
    refuses('oss://b/p', {}, /an oss replica needs credentials: access-key-id and secret-access-key, or OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET/);
    refuses('oss://b/p', { 'access-key-id': 'x' }, /access-key-id is set but secret-access-key is not/);
    refuses('oss://b/p', {}, /secret-access-key is set but access-key-id is not|OSS_ACCESS_KEY_SECRET/, { OSS_ACCESS_KEY_SECRET: 's' });
    refuses('oss://oss-cn-hangzhou.aliyuncs.com/p', KEYS, /bucket required for an oss replica/);
    refuses('oss://b/p', { ...KEYS, 'part-size': 'lots' }, /part-size "lots" is not a byte size/);
  });

  it('is named oss:// in messages, never with its secret', () => {
    const s = settings('oss://b/p');
    assert.equal(describeS3Replica(s), 'oss://b/p at https://s3.oss-cn-hangzhou.aliyuncs.com');
    const client = createReplicaClient('oss://b/p', KEYS);
    assert.equal(client.type, 'oss');
    assert.doesNotMatch(JSON.stringify(client), /secret-example/);
  });
});

describe("Litestream's OSS configuration examples load unchanged", () => {
  const load = (yaml: string) => parseConfig(yaml, { filename: '/etc/litestream.yml', env: {}, cwd: '/', homeDir: '/root' });

  it('the URL form with a regional host', () => {
    const c = load(`dbs:
  - path: /var/lib/app/db.sqlite
    replica:
      url: oss://my-bucket.oss-cn-hangzhou.aliyuncs.com/db
      access-key-id: LTAI5tExample
      secret-access-key: exampleSecret
`);
    const r = c.dbs[0]!.replica!;
    assert.equal(r.type, 'oss');
    const s = settings(r.url, r.options);
    assert.equal(s.bucket, 'my-bucket');
    assert.equal(s.path, 'db');
    assert.equal(s.region, 'cn-hangzhou');
  });

  it('the multiple-fields form', () => {
    const c = load(`dbs:
  - path: /var/lib/app/db.sqlite
    replica:
      type: oss
      bucket: my-bucket
      path: db
      region: cn-beijing
      access-key-id: LTAI5tExample
      secret-access-key: exampleSecret
`);
    const r = c.dbs[0]!.replica!;
    assert.equal(r.type, 'oss');
    const s = settings(r.url, r.options);
    assert.equal(s.bucket, 'my-bucket');
    assert.equal(s.path, 'db');
    assert.equal(s.endpoint, 'https://s3.oss-cn-beijing.aliyuncs.com');
  });
});
