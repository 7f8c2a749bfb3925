import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../../src/config/parse-config.js';
import { ReplicaUrlError } from '../../../src/storage/errors.js';
import { parseReplicaUrl, type RemoteReplicaUrl, type ReplicaClientOptions } from '../../../src/storage/replica-url.js';
import { parseHostKeyLine } from '../../../src/storage/sftp/sftp-host-key.js';
import { describeSftpReplica, resolveSftpSettings, type SftpSettings } from '../../../src/storage/sftp/sftp-settings.js';

function settings(url: string, options: ReplicaClientOptions = {}): SftpSettings {
  return resolveSftpSettings(parseReplicaUrl(url) as RemoteReplicaUrl, url, options);
}

/** A real ed25519 public key line (the key data embeds its type). */
const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIz+UHVko1UG6PKxm/fzfK23Sk0kAeGpWVTjeRvH+G4s test@host';

function configReplica(yaml: string): { url: string; options: ReplicaClientOptions } {
  const c = parseConfig(yaml, { filename: '/etc/litestream.yml', env: {}, cwd: '/', homeDir: '/root', checkDirs: false });
  return c.dbs[0]!.replica;
}

describe('resolveSftpSettings', () => {
  it('takes user, password, host and port from the URL, port 22 by default, the path relative to the login directory', () => {
    const s = settings('sftp://alice:s%3Acret@backup.example.com/backups/db');
    assert.deepEqual(
      { host: s.host, port: s.port, user: s.user, password: s.password, path: s.path, concurrentWrites: s.concurrentWrites, hostKey: s.hostKey },
      { host: 'backup.example.com', port: 22, user: 'alice', password: 's:cret', path: 'backups/db', concurrentWrites: true, hostKey: undefined },
    );
    assert.equal(settings('sftp://u@[::1]:2222').host, '::1');
    assert.equal(settings('sftp://u@[::1]:2222').port, 2222);
    assert.equal(settings('sftp://u@h').path, '');
  });

  it('a second leading slash makes the path absolute', () => {
    assert.equal(settings('sftp://u@h:2222//srv/backups/db').path, '/srv/backups/db');
    assert.equal(describeSftpReplica(settings('sftp://u@h:2222//srv/backups/db')), 'sftp://u@h:2222//srv/backups/db');
    assert.equal(describeSftpReplica(settings('sftp://u:pw@h/rel')), 'sftp://u@h:22/rel');
  });

  it('the user and password options win over the URL, and concurrent-writes is read as a boolean', () => {
    const s = settings('sftp://alice:pw@h/p', { user: 'bob', password: 'other', 'concurrent-writes': false });
    assert.equal(s.user, 'bob');
    assert.equal(s.password, 'other');
    assert.equal(s.concurrentWrites, false);
    assert.equal(settings('sftp://u@h/p', { 'concurrent-writes': 'no' }).concurrentWrites, false);
  });

  it('refuses a missing user, an unreadable key-path and a malformed host-key, naming the setting', () => {
    assert.throws(() => settings('sftp://h/p'), (e: unknown) => e instanceof ReplicaUrlError && /user required/.test(e.message));
    assert.throws(() => settings('sftp://u@h/p', { 'key-path': '/nonexistent/id_ed25519' }), /cannot read key-path "\/nonexistent\/id_ed25519": ENOENT/);
    assert.throws(() => settings('sftp://u@h/p', { 'host-key': 'not a key' }), /host-key: expected an authorized_keys line/);
    assert.throws(() => settings('sftp://u@h/p', { 'host-key': 'ssh-rsa ' + ED25519.split(' ')[1]! }), /host-key: the key data is a ssh-ed25519 key, not ssh-rsa/);
    assert.throws(() => settings('sftp://u@h/p', { 'concurrent-writes': 'maybe' }), /option concurrent-writes must be true or false/);
  });

  it('reads the key file given by key-path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-sftp-key-'));
    try {
      const key = join(dir, 'id');
      writeFileSync(key, '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n');
      const s = settings('sftp://u@h/p', { 'key-path': key, 'host-key': ED25519 });
      assert.match(s.privateKey!.toString(), /BEGIN OPENSSH PRIVATE KEY/);
      assert.equal(s.hostKey!.type, 'ssh-ed25519');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('parseHostKeyLine', () => {
  it('accepts an authorized_keys line with options and a comment, and returns the key blob', () => {
    const k = parseHostKeyLine(`restrict ${ED25519}`);
    assert.ok(typeof k !== 'string');
    assert.equal(k.type, 'ssh-ed25519');
    assert.equal(k.blob.length, 51);
  });
});

describe('SFTP paths from a config file are absolute, as Litestream reads them', () => {
  it('a path field', () => {
    const r = configReplica('dbs:\n  - path: /db\n    replica:\n      type: sftp\n      host: h:2222\n      user: u\n      path: /backups/db\n');
    assert.equal(r.url, 'sftp://h:2222//backups/db');
    assert.equal(settings(r.url, r.options).path, '/backups/db');
  });

  it('a relative path field stays relative to the login directory', () => {
    const r = configReplica('dbs:\n  - path: /db\n    replica:\n      type: sftp\n      host: h\n      user: u\n      path: backups/db\n');
    assert.equal(settings(r.url, r.options).path, 'backups/db');
  });

  it('the path of a url', () => {
    const r = configReplica('dbs:\n  - path: /db\n    replica:\n      url: sftp://u:pw@h:22/backups/db\n');
    const s = settings(r.url, r.options);
    assert.deepEqual([s.path, s.user, s.password], ['/backups/db', 'u', 'pw']);
  });
});
