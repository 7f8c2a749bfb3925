import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReplicaUrlError } from '../../../src/storage/errors.js';
import { createReplicaClient, parseReplicaUrl, type RemoteReplicaUrl, type ReplicaClientOptions } from '../../../src/storage/replica-url.js';
import { describeWebdavReplica, resolveWebdavSettings } from '../../../src/storage/webdav/webdav-settings.js';

function settings(url: string, options: ReplicaClientOptions = {}) {
  return resolveWebdavSettings(parseReplicaUrl(url) as RemoteReplicaUrl, url, options);
}

describe('resolveWebdavSettings', () => {
  it('webdav:// speaks HTTP and webdavs:// HTTPS to the URL host, the path naming the replica collection', () => {
    assert.deepEqual(settings('webdav://dav.example.com/backups/db'), {
      origin: 'http://dav.example.com',
      path: 'backups/db',
      username: undefined,
      password: undefined,
      credentialSource: 'none given',
    });
    const s = settings('webdavs://dav.example.com:8443/remote.php/dav/files/me/db');
    assert.equal(s.origin, 'https://dav.example.com:8443');
    assert.equal(s.path, 'remote.php/dav/files/me/db');
    assert.equal(settings('webdav://[::1]:8080/x').origin, 'http://[::1]:8080');
    assert.equal(settings('webdav://host').path, '');
    assert.equal(settings('webdav://host/a//b/').path, 'a/b');
  });

  it("takes credentials from the URL's userinfo, the webdav-username and webdav-password options winning, as in Litestream", () => {
    const a = settings('webdav://me:p%40ss@host/db');
    assert.equal(a.username, 'me');
    assert.equal(a.password, 'p@ss');
    assert.equal(a.credentialSource, 'the URL');
    const b = settings('webdav://me:old@host/db', { 'webdav-username': 'other', 'webdav-password': 'new' });
    assert.equal(b.username, 'other');
    assert.equal(b.password, 'new');
    const c = settings('webdav://host/db', { 'webdav-username': 'u', 'webdav-password': 'pw' });
    assert.equal(c.credentialSource, 'webdav-username/webdav-password');
    const d = settings('webdav://me@host/db', { 'webdav-password': 'pw' });
    assert.deepEqual([d.username, d.password], ['me', 'pw']);
    // Options of other backends are not credentials here.
    assert.equal(settings('webdav://host/db', { user: 'x', password: 'y' }).username, undefined);
  });

  it('ignores a query string, as Litestream does', () => {
    assert.equal(settings('webdav://host/db?foo=bar').path, 'db');
  });

  it('refuses a password without a user, and option values that are not strings, in one line naming the URL', () => {
    assert.throws(() => settings('webdav://host/db', { 'webdav-password': 'pw' }), /replica URL "webdav:\/\/host\/db": a webdav password needs a user name/);
    assert.throws(() => settings('webdav://host/db', { 'webdav-username': 5 }), /option webdav-username must be a string/);
    assert.throws(() => settings('webdav://host:99999/db'), ReplicaUrlError);
  });

  it('names the replica without its password', () => {
    const s = settings('webdavs://me:secret@dav.example.com/db');
    assert.equal(describeWebdavReplica(s), 'webdavs://dav.example.com/db');
    assert.equal(describeWebdavReplica(settings('webdav://host:81')), 'webdav://host:81');
  });
});

describe('createReplicaClient for webdav URLs', () => {
  it('makes a lazily loaded webdav client for both schemes, with the settings checked at once', () => {
    const a = createReplicaClient('webdav://u:p@host:8080/backups/db');
    assert.equal(a.type, 'webdav');
    assert.equal((a as { name?: string }).name, 'webdav://host:8080/backups/db');
    const b = createReplicaClient('webdavs://host/db');
    assert.equal(b.type, 'webdav');
    assert.equal((b as { name?: string }).name, 'webdavs://host/db');
    assert.throws(() => createReplicaClient('webdav://host/db', { 'webdav-password': 'x' }), /needs a user name/);
    assert.throws(() => createReplicaClient('webdav:///db'), /missing host/);
  });
});
