import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReplicaUrlError } from '../../../src/storage/errors.js';
import { LazyReplicaClient } from '../../../src/storage/lazy-replica-client.js';
import { describeAbsReplica, resolveAbsSettings, type AbsSettings } from '../../../src/storage/abs/abs-settings.js';
import { absLevelPrefix, absLtxBlobName, absRootPrefix } from '../../../src/storage/abs/abs-key-layout.js';
import { AbsRetry, isRetryableAbsError } from '../../../src/storage/abs/abs-retry.js';
import { isPermanentError } from '../../../src/storage/permanent-error.js';
import { toAbsStorageError } from '../../../src/storage/abs/abs-errors.js';
import { createReplicaClient, parseReplicaUrl, type RemoteReplicaUrl, type ReplicaClientOptions } from '../../../src/storage/replica-url.js';
import { canReadV03 } from '../../../src/storage/v03-reader.js';

function resolve(url: string, options: ReplicaClientOptions = {}, env: NodeJS.ProcessEnv = {}): AbsSettings {
  return resolveAbsSettings(parseReplicaUrl(url) as RemoteReplicaUrl, url, options, env);
}

function rejects(url: string, options: ReplicaClientOptions, env: NodeJS.ProcessEnv, re: RegExp): void {
  assert.throws(
    () => resolve(url, options, env),
    (err: unknown) => {
      assert.ok(err instanceof ReplicaUrlError, String(err));
      assert.match(err.message, re);
      return true;
    },
  );
}

describe('resolveAbsSettings', () => {
  it('takes the account from the URL, and the endpoint from it, with the account key', () => {
    const s = resolve('abs://myaccount@mycontainer/path/db', { 'account-key': 'a2V5' });
    assert.deepEqual(s, {
      accountName: 'myaccount',
      container: 'mycontainer',
      path: 'path/db',
      endpoint: 'https://myaccount.blob.core.windows.net',
      customEndpoint: false,
      credential: { kind: 'shared-key', accountName: 'myaccount', accountKey: 'a2V5' },
      credentialSource: 'the account-key option',
    });
    assert.equal(describeAbsReplica(s), 'abs://myaccount@mycontainer/path/db');
  });

  it('takes the account-name, endpoint and path options, and shows a custom endpoint in messages', () => {
    const s = resolve('abs://mycontainer', { 'account-name': 'devstoreaccount1', endpoint: 'http://127.0.0.1:10000/devstoreaccount1/', path: '/db/' }, { LITESTREAM_AZURE_ACCOUNT_KEY: 'k' });
    assert.equal(s.endpoint, 'http://127.0.0.1:10000/devstoreaccount1');
    assert.equal(s.path, 'db');
    assert.equal(s.credentialSource, 'LITESTREAM_AZURE_ACCOUNT_KEY');
    assert.equal(describeAbsReplica(s), 'abs://devstoreaccount1@mycontainer/db at http://127.0.0.1:10000/devstoreaccount1');
  });

  it('takes ?endpoint= from the URL, with the option winning over it', () => {
    const q = resolve('abs://acct@c0ntainer/p?endpoint=http%3A%2F%2F127.0.0.1%3A10000%2Facct', { 'account-key': 'k' });
    assert.equal(q.endpoint, 'http://127.0.0.1:10000/acct');
    assert.equal(q.path, 'p');
    const both = resolve('abs://acct@c0ntainer/p?endpoint=http://a:1', { 'account-key': 'k', endpoint: 'http://b:2' });
    assert.equal(both.endpoint, 'http://b:2');
  });

  it('prefers a SAS token to an account key, from options or environment, without its leading ?', () => {
    assert.deepEqual(resolve('abs://acct@c0ntainer/p', { 'sas-token': '?sv=1&sig=x', 'account-key': 'k' }).credential, { kind: 'sas', token: 'sv=1&sig=x' });
    const fromEnv = resolve('abs://acct@c0ntainer/p', { 'account-key': 'k' }, { LITESTREAM_AZURE_SAS_TOKEN: 'sv=2' });
    assert.deepEqual(fromEnv.credential, { kind: 'sas', token: 'sv=2' });
    assert.equal(fromEnv.credentialSource, 'LITESTREAM_AZURE_SAS_TOKEN');
    const tidemark = resolve('abs://acct@c0ntainer/p', {}, { TIDEMARK_AZURE_ACCOUNT_KEY: 'a', LITESTREAM_AZURE_ACCOUNT_KEY: 'b' });
    assert.deepEqual(tidemark.credential, { kind: 'shared-key', accountName: 'acct', accountKey: 'a' });
    // A SAS token needs no account name when the endpoint is given.
    const sasOnly = resolve('abs://c0ntainer/p', { 'sas-token': 'sv=3', endpoint: 'https://acct.blob.core.windows.net' });
    assert.equal(sasOnly.accountName, undefined);
  });

  it('with neither an account key nor a SAS token, falls back to Azure AD (DefaultAzureCredential), as Litestream does', () => {
    const url = 'abs://acct@c0ntainer/p';
    const s = resolveAbsSettings(parseReplicaUrl(url) as RemoteReplicaUrl, url, {}, {});
    assert.deepEqual(s.credential, { kind: 'azure-ad' });
    assert.match(s.credentialSource, /DefaultAzureCredential/);
    assert.match(s.credentialSource, /no account key \(account-key, LITESTREAM_AZURE_ACCOUNT_KEY\) or SAS token/);
  });

  it('refuses what cannot work, naming the key to set', () => {
    rejects('abs://c0ntainer/p', { 'account-key': 'k' }, {}, /needs an account name \(abs:\/\/ACCOUNT@CONTAINER\/PATH or the account-name option\)/);
    rejects('abs://c0ntainer/p', { endpoint: 'http://127.0.0.1:1/x', 'account-key': 'k' }, {}, /account key \(from the account-key option\) needs the account name/);
    rejects('abs://acct@c0ntainer/p', { endpoint: '127.0.0.1:10000', 'account-key': 'k' }, {}, /endpoint "127\.0\.0\.1:10000" (is not a URL|must start with http)/);
    rejects('abs://acct@c0ntainer/p', { endpoint: 'https://h/?sig=1', 'account-key': 'k' }, {}, /has a query; give a SAS token with the sas-token option/);
    rejects('abs://acct@Bad_Container/p', { 'account-key': 'k' }, {}, /container name "Bad_Container" is not valid on Azure/);
    rejects('abs://acct@c0ntainer/p', { 'account-key': 5 }, {}, /option account-key must be a string/);
    rejects('abs://acct@c0ntainer/p', { 'account-key': 'k', bucket: 'other' }, {}, /both a URL container and the bucket option/);
    rejects('abs://acct@c0ntainer/p', { 'account-key': 'k', path: 'q' }, {}, /both a URL path and the path option/);
  });

  it('createReplicaClient gives a lazily loaded abs client, checking the settings at once', () => {
    const c = createReplicaClient('abs://acct@c0ntainer/db', { 'account-key': 'k' });
    assert.ok(c instanceof LazyReplicaClient);
    assert.equal(c.type, 'abs');
    assert.equal(c.name, 'abs://acct@c0ntainer/db');
    // Litestream reads v0.3 backups from file and S3 replicas only; restore must not look for them here.
    assert.equal(canReadV03(c), false);
    assert.equal(canReadV03(createReplicaClient('s3://bkt/db', { 'access-key-id': 'a', 'secret-access-key': 'b', region: 'us-east-1' })), true);
    assert.throws(() => createReplicaClient('abs://c0ntainer/db', {}), /needs an account name/);
  });
});

describe('abs blob layout', () => {
  it("is Litestream's: <path>/ltx/<level in decimal>/<min>-<max>.ltx, ltx/… at the container root", () => {
    assert.equal(absLtxBlobName('a/b', 0, 1n, 2n), 'a/b/ltx/0/0000000000000001-0000000000000002.ltx');
    assert.equal(absLtxBlobName('', 9, 1n, 0xffn), 'ltx/9/0000000000000001-00000000000000ff.ltx');
    assert.equal(absLevelPrefix('db', 12), 'db/ltx/12/');
    assert.equal(absRootPrefix('db'), 'db/');
    assert.equal(absRootPrefix(''), 'ltx/');
  });
});

describe('abs retry and error classes', () => {
  it("retries Litestream's statuses and network failures, nothing else", () => {
    for (const status of [408, 429, 500, 502, 503, 504]) assert.equal(isRetryableAbsError({ statusCode: status }), true, String(status));
    for (const status of [400, 403, 404, 409, 412, 416]) assert.equal(isRetryableAbsError({ statusCode: status }), false, String(status));
    assert.equal(isRetryableAbsError({ code: 'ECONNRESET' }), true);
    assert.equal(isRetryableAbsError({ code: 'ECONNREFUSED' }), true);
    assert.equal(isRetryableAbsError(new Error('boom')), false);
  });

  it('delays double from the base up to the cap, with jitter in the upper half', () => {
    const r = new AbsRetry({ random: () => 0.999 });
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((i) => Math.round(r.delayMs(i) / 1000)), [1, 2, 4, 8, 16, 30, 30]);
    const low = new AbsRetry({ random: () => 0 });
    assert.equal(low.delayMs(0), 500);
  });

  it('a missing container and refused credentials are permanent; a server error is not', () => {
    const ctx = { replica: 'abs://a@c0ntainer/p', container: 'c0ntainer', doing: 'listing', credentialSource: 'the account-key option' };
    const missing = toAbsStorageError(Object.assign(new Error('The specified container does not exist.\nRequestId:x'), { statusCode: 404, code: 'ContainerNotFound' }), ctx);
    assert.match(missing.message, /^abs:\/\/a@c0ntainer\/p: listing: container "c0ntainer" does not exist \(ContainerNotFound: The specified container does not exist\.\); create it/);
    assert.equal(isPermanentError(missing), true);
    const denied = toAbsStorageError(Object.assign(new Error('Server failed to authenticate the request.'), { statusCode: 403, code: 'AuthenticationFailed' }), ctx);
    assert.match(denied.message, /access denied \(AuthenticationFailed: .*check the account key or SAS token \(from the account-key option\)/);
    assert.equal(isPermanentError(denied), true);
    const busy = toAbsStorageError(Object.assign(new Error('busy'), { statusCode: 503, code: 'ServerBusy' }), ctx);
    assert.equal(isPermanentError(busy), false);
  });
});
