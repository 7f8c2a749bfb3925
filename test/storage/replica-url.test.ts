import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { ReplicaUrlError } from '../../src/storage/errors.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import {
  availableReplicaSchemes,
  createReplicaClient,
  isRelativeFileUrl,
  isUrl,
  parseReplicaUrl,
  replicaDisplayName,
  REPLICA_URL_SCHEMES,
  type RemoteReplicaUrl,
} from '../../src/storage/replica-url.js';

function remote(s: string): RemoteReplicaUrl {
  const u = parseReplicaUrl(s);
  assert.notEqual(u.scheme, 'file', s);
  return u as RemoteReplicaUrl;
}

function plain(u: RemoteReplicaUrl): Record<string, unknown> {
  return { scheme: u.scheme, host: u.host, path: u.path, query: u.query.toString(), userinfo: u.userinfo };
}

function rejectsUrl(s: string, re: RegExp): void {
  assert.throws(
    () => parseReplicaUrl(s),
    (err: unknown) => {
      assert.ok(err instanceof ReplicaUrlError, `${s}: ${String(err)}`);
      assert.match(err.message, re, s);
      return true;
    },
  );
}

describe('isUrl', () => {
  it('matches <word>:// the way Litestream does', () => {
    for (const s of ['s3://b', 'file:///x', 'abc_1://x', 'S3://b']) assert.equal(isUrl(s), true, s);
    for (const s of ['/var/lib/x', 'rel/path', 's3:/b', 'C:\\data', '://x', 'a-b://x', '']) assert.equal(isUrl(s), false, s);
  });
});

describe('parseReplicaUrl: file', () => {
  it('takes file:///abs/path as an absolute, cleaned directory', () => {
    const cases: [string, string][] = [
      ['file:///var/lib/backup', '/var/lib/backup'],
      ['file:///var/lib/backup/', '/var/lib/backup'],
      ['file:///var//lib/./x/../backup', '/var/lib/backup'],
      ['file:///data/db?ignored=1#frag', '/data/db'],
      ['file:///my%20backups/db', '/my backups/db'],
      ['FILE:///upper', '/upper'],
      ['file:///', '/'],
      ['file://localhost/var/backup', '/var/backup'],
      ['file://LOCALHOST', '/'],
    ];
    for (const [s, path] of cases) assert.deepEqual(parseReplicaUrl(s), { scheme: 'file', path }, s);
  });

  it('takes file://relative/path as relative to the working directory, like the same path without the scheme', () => {
    const cases: [string, string][] = [
      ['file://backups/db', resolve('backups/db')],
      ['file://backups/db/?x=1', resolve('backups/db')],
      ['file://./here', resolve('here')],
      ['file://../up/db', resolve('../up/db')],
      ['file://localhostile/db', resolve('localhostile/db')],
    ];
    for (const [s, path] of cases) {
      assert.deepEqual(parseReplicaUrl(s), { scheme: 'file', path }, s);
      assert.equal(isRelativeFileUrl(s), true, s);
    }
    for (const s of ['file:///abs', 'file://localhost/abs', 'file://', 's3://b/x', 'backups/db']) assert.equal(isRelativeFileUrl(s), false, s);
    assert.equal(replicaDisplayName('file://rel/r'), `file://${resolve('rel/r')}`);
  });

  it('takes a plain path as a directory replica, made absolute', () => {
    assert.deepEqual(parseReplicaUrl('/srv/replica'), { scheme: 'file', path: '/srv/replica' });
    assert.deepEqual(parseReplicaUrl('backups/db'), { scheme: 'file', path: resolve('backups/db') });
    assert.deepEqual(parseReplicaUrl('./a/../b/'), { scheme: 'file', path: resolve('b') });
    assert.deepEqual(parseReplicaUrl('s3:/not-a-url'), { scheme: 'file', path: resolve('s3:/not-a-url') });
  });

  it('rejects an empty file URL or path', () => {
    rejectsUrl('', /empty/);
    rejectsUrl('file://', /no path/);
    rejectsUrl('file://?x=1', /no path/);
    rejectsUrl('file:///a%zz', /percent-encoding/);
    rejectsUrl('/a\0b', /NUL/);
  });
});

describe('parseReplicaUrl: remote backends', () => {
  it('splits s3 URLs into bucket, cleaned key prefix, query and no userinfo', () => {
    const u = remote('s3://my-bucket/backups/app.db?region=us-east-1&endpoint=http://minio:9000&forcePathStyle=true');
    assert.deepEqual(plain(u), {
      scheme: 's3',
      host: 'my-bucket',
      path: 'backups/app.db',
      query: 'region=us-east-1&endpoint=http%3A%2F%2Fminio%3A9000&forcePathStyle=true',
      userinfo: undefined,
    });
    assert.equal(u.query.get('endpoint'), 'http://minio:9000');
    assert.equal(u.query.get('forcePathStyle'), 'true');
  });

  it('cleans the path like Go path.Clean and drops the leading slash', () => {
    const cases: [string, string][] = [
      ['s3://b', ''],
      ['s3://b/', ''],
      ['s3://b//a//b/../c/', 'a/c'],
      ['s3://b/./x/.', 'x'],
      ['s3://b/../../x', 'x'],
      ['s3://b/with%20space/x', 'with space/x'],
      ['gs://b/a/b/c', 'a/b/c'],
    ];
    for (const [s, path] of cases) assert.equal(remote(s).path, path, s);
  });

  it('keeps host forms as written: virtual-hosted buckets, host:port, IPv6', () => {
    assert.equal(remote('s3://bkt.s3.us-west-2.amazonaws.com/db').host, 'bkt.s3.us-west-2.amazonaws.com');
    assert.equal(remote('s3://bkt.localhost:9000/db').host, 'bkt.localhost:9000');
    assert.equal(remote('webdav://[::1]:8080/dav').host, '[::1]:8080');
    assert.equal(remote('S3://bkt/db').scheme, 's3');
  });

  it('decodes userinfo for sftp, abs, webdav and nats', () => {
    assert.deepEqual(plain(remote('sftp://alice:p%40ss%3Aword@backup.example.com:2222/srv/db')), {
      scheme: 'sftp',
      host: 'backup.example.com:2222',
      path: 'srv/db',
      query: '',
      userinfo: { username: 'alice', password: 'p@ss:word' },
    });
    assert.deepEqual(plain(remote('abs://myaccount@mycontainer/path/db')), {
      scheme: 'abs',
      host: 'mycontainer',
      path: 'path/db',
      query: '',
      userinfo: { username: 'myaccount', password: undefined },
    });
    assert.deepEqual(remote('webdavs://u:p@dav.example.com/remote.php/dav/files/u/db').userinfo, { username: 'u', password: 'p' });
    assert.deepEqual(plain(remote('nats://nats.local:4222/my-bucket')), {
      scheme: 'nats',
      host: 'nats.local:4222',
      path: 'my-bucket',
      query: '',
      userinfo: undefined,
    });
    assert.equal(remote('webdav://dav.local/x').scheme, 'webdav');
  });

  it('splits S3 access point ARNs by hand', () => {
    const arn = 'arn:aws:s3:us-west-2:123456789012:accesspoint/my-ap';
    assert.deepEqual(plain(remote(`s3://${arn}/backups//db/?region=us-west-2`)), {
      scheme: 's3',
      host: arn,
      path: 'backups/db',
      query: 'region=us-west-2',
      userinfo: undefined,
    });
    assert.deepEqual(plain(remote(`s3://${arn}`)), { scheme: 's3', host: arn, path: '', query: '', userinfo: undefined });
    assert.equal(remote('s3://arn:aws-cn:s3:cn-north-1:1:accesspoint/ap/k').host, 'arn:aws-cn:s3:cn-north-1:1:accesspoint/ap');
  });

  it('rejects unknown schemes, naming the URL and the supported ones', () => {
    for (const s of ['ftp://host/x', 'gcs://bucket/x', 'oss2://b/x', 'http://example.com/x']) {
      rejectsUrl(s, /unknown scheme/);
      rejectsUrl(s, /file, s3, gs, abs, sftp, webdav, webdavs, nats/);
      assert.throws(() => parseReplicaUrl(s), (err: unknown) => err instanceof ReplicaUrlError && err.message.includes(s));
    }
  });

  it('rejects malformed URLs and URLs without a bucket or host', () => {
    rejectsUrl('s3://', /missing bucket/);
    rejectsUrl('s3:///path', /missing bucket/);
    rejectsUrl('abs:///x', /missing container/);
    rejectsUrl('sftp://', /missing host/);
    rejectsUrl('sftp://host:99999/x', /malformed/);
    rejectsUrl('s3://bad bucket/x', /malformed/);
    rejectsUrl('s3://b/%zz', /percent-encoding/);
  });

  it('never puts a password into an error message', () => {
    assert.throws(
      () => parseReplicaUrl('ftp://bob:hunter2@host/x'),
      (err: unknown) => {
        assert.ok(err instanceof ReplicaUrlError);
        assert.doesNotMatch(err.message, /hunter2/);
        assert.match(err.message, /ftp:\/\/bob:\*\*\*@host\/x/);
        assert.equal(err.url, 'ftp://bob:***@host/x');
        return true;
      },
    );
  });
});

describe('createReplicaClient', () => {
  it('builds a FileReplicaClient for file URLs and plain paths', () => {
    const a = createReplicaClient('file:///srv/replica/db');
    assert.ok(a instanceof FileReplicaClient);
    assert.equal(a.type, 'file');
    assert.equal(a.root, '/srv/replica/db');
    const b = createReplicaClient('rel/replica');
    assert.ok(b instanceof FileReplicaClient);
    assert.equal(b.root, resolve('rel/replica'));
  });

  it('makes a client for every scheme Litestream accepts, named by its type', () => {
    const cases: [string, Record<string, string>, string][] = [
      ['s3://bucket/path', { 'access-key-id': 'k', 'secret-access-key': 's' }, 's3'],
      ['gs://bucket/path', {}, 'gs'],
      ['abs://account@container/path', { 'account-key': Buffer.from('key').toString('base64') }, 'abs'],
      ['sftp://user@host/path', { password: 'p' }, 'sftp'],
      ['webdav://host/path', {}, 'webdav'],
      ['webdavs://host/path', {}, 'webdav'],
      ['nats://host/bucket', {}, 'nats'],
      ['oss://bucket/path', { 'access-key-id': 'k', 'secret-access-key': 's' }, 'oss'],
    ];
    for (const [url, options, type] of cases) assert.equal(createReplicaClient(url, options).type, type, url);
    assert.throws(() => createReplicaClient('nope://x/y'), /unknown scheme 'nope'/);
  });

  it('makes an sftp client that loads its backend on first use, refusing a URL without a user at once', () => {
    const c = createReplicaClient('sftp://u@host:2222/backups/db');
    assert.equal(c.type, 'sftp');
    assert.equal((c as { name?: string }).name, 'sftp://u@host:2222/backups/db');
    assert.throws(() => createReplicaClient('sftp://host/path'), /replica URL "sftp:\/\/host\/path": user required/);
  });
});

describe('availableReplicaSchemes', () => {
  it('offers a backend only when every package it loads is installed', () => {
    assert.deepEqual(availableReplicaSchemes(() => false), ['file', 's3', 'oss']);
    assert.deepEqual(availableReplicaSchemes(() => true), [...REPLICA_URL_SCHEMES]);
    assert.deepEqual(availableReplicaSchemes((p) => p === 'webdav' || p === '@nats-io/obj'), ['file', 's3', 'webdav', 'webdavs', 'oss']);
  });

  it('finds the packages of this installation', () => {
    assert.deepEqual(availableReplicaSchemes(), [...REPLICA_URL_SCHEMES]);
  });
});

describe('replicaDisplayName', () => {
  it('shows a directory as a file:// URL of its absolute path however it was given, other URLs without a password', () => {
    for (const s of ['/srv/r', '/srv/r/', 'file:///srv/r', 'file:///srv//r?x=1']) assert.equal(replicaDisplayName(s), 'file:///srv/r', s);
    assert.equal(replicaDisplayName('rel/r'), `file://${resolve('rel/r')}`);
    assert.equal(replicaDisplayName('sftp://u:secret@h/p'), 'sftp://u:***@h/p');
    assert.equal(replicaDisplayName('s3://bucket/db?region=x'), 's3://bucket/db?region=x');
  });
});
