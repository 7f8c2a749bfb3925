import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/parse-config.js';

const FILE = '/etc/litestream.yml';

function parseError(text: string, homeDir = '/home/u'): ConfigError {
  try {
    parseConfig(text, { filename: FILE, env: {}, cwd: '/w', homeDir });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('the configuration was accepted');
}

/** The location prefix of a message must agree with the error's fields. */
function assertFieldsMatchMessage(err: ConfigError): void {
  const m = /^(.+?):(\d+):(\d+): (?:(\S+): )?/.exec(err.message);
  assert.ok(m, `message without file:line:column: ${err.message}`);
  assert.equal(m[1], err.file);
  assert.equal(Number(m[2]), err.line);
  assert.equal(Number(m[3]), err.column);
  if (err.keyPath !== '') assert.equal(m[4], err.keyPath);
  assert.ok(err.message.endsWith(err.reason));
}

/** [what is wrong, config text, the one-line error it gets]. */
const INVALID: Array<[string, string, string]> = [
  ["unknown top key", 'acess-key-id: x\n', "/etc/litestream.yml:1:1: acess-key-id: unknown key (did you mean \"access-key-id\"?)"],
  ["unknown top key camel", 'accessKeyId: x\n', "/etc/litestream.yml:1:1: accessKeyId: unknown key (did you mean \"access-key-id\"?)"],
  ["unknown db key", 'dbs:\n  - path: /db\n    replica: {path: /r}\n    monitor-intreval: 1s\n', "/etc/litestream.yml:4:5: dbs[0].monitor-intreval: unknown key (did you mean \"monitor-interval\"?)"],
  ["db key at top", 'path: /db\n', "/etc/litestream.yml:1:1: path: unknown key (it belongs in a dbs[] entry)"],
  ["replica key in db", 'dbs:\n  - path: /db\n    url: s3://b/p\n', "/etc/litestream.yml:3:5: dbs[0].url: unknown key (it belongs under 'replica:')"],
  ["v03 retention in replica", 'dbs:\n  - path: /db\n    replica:\n      path: /r\n      retention: 24h\n', "/etc/litestream.yml:5:7: dbs[0].replica.retention: unknown key (did you mean snapshot.retention (top level)?)"],
  ["access-key-secret", 'dbs:\n  - path: /db\n    replica:\n      url: oss://b/p\n      access-key-secret: s\n', "/etc/litestream.yml:5:7: dbs[0].replica.access-key-secret: unknown key (did you mean \"secret-access-key\"?)"],
  ["skip-remote-deletion", 'skip-remote-deletion: true\n', "/etc/litestream.yml:1:1: skip-remote-deletion: unknown key (did you mean retention.enabled: false?)"],
  ["bad duration", 'dbs:\n  - path: /db\n    replica:\n      url: s3://b/p\n      sync-interval: 5x\n', "/etc/litestream.yml:5:22: dbs[0].replica.sync-interval: invalid duration \"5x\": unknown unit \"x\" (expected e.g. 1s, 500ms, 1h30m)"],
  ["bare number duration", 'l0-retention: 30\n', "/etc/litestream.yml:1:15: l0-retention: invalid duration \"30\": missing unit (expected e.g. 1s, 500ms, 1h30m)"],
  ["zero sync", 'dbs:\n  - path: /db\n    replica:\n      url: s3://b/p\n      sync-interval: 0s\n', "/etc/litestream.yml:5:22: dbs[0].replica.sync-interval: sync interval must be greater than 0"],
  ["global zero sync", 'sync-interval: 0s\n', "/etc/litestream.yml:1:16: sync-interval: sync interval must be greater than 0"],
  ["bad size", 'dbs:\n  - path: /db\n    replica:\n      url: s3://b/p\n      part-size: 5XB\n', "/etc/litestream.yml:5:18: dbs[0].replica.part-size: invalid size \"5XB\": unknown unit \"XB\" (expected e.g. 5MB, 5MiB, 5242880)"],
  ["bool type", 'verify-compaction: maybe\n', "/etc/litestream.yml:1:20: verify-compaction: expected true or false, got \"maybe\""],
  ["int type", 'dbs:\n  - path: /db\n    min-checkpoint-page-count: lots\n    replica: {path: /r}\n', "/etc/litestream.yml:3:32: dbs[0].min-checkpoint-page-count: expected an integer, got \"lots\""],
  ["string got map", 'exec: {a: 1}\n', "/etc/litestream.yml:1:7: exec: expected a string, got a mapping"],
  ["dbs not list", 'dbs: /db\n', "/etc/litestream.yml:1:6: dbs: expected a list, got \"/db\""],
  ["db null", 'dbs:\n  -\n', "/etc/litestream.yml:2:4: dbs[0]: expected a database mapping (path: ... and replica: ...), got null"],
  ["replica path url", 'dbs:\n  - path: /db\n    replica:\n      path: s3://bucket/db\n', "/etc/litestream.yml:4:13: dbs[0].replica.path: a replica path cannot be a URL (\"s3://bucket/db\"); use the 'url' key"],
  ["both path dir", 'dbs:\n  - path: /db\n    dir: /data\n    pattern: "*.db"\n    replica: {path: /r}\n', "/etc/litestream.yml:3:10: dbs[0].dir: cannot set both 'path' and 'dir'"],
  ["neither", 'dbs:\n  - replica: {path: /r}\n', "/etc/litestream.yml:2:5: dbs[0]: a database needs 'path' (a database file) or 'dir' (a directory of databases)"],
  ["dir no pattern", 'dbs:\n  - dir: /tmp\n    replica: {url: s3://b/p}\n', "/etc/litestream.yml:2:10: dbs[0].dir: 'pattern' is required with 'dir' (e.g. pattern: \"*.db\")"],
  ["bad pattern", 'dbs:\n  - dir: /tmp\n    pattern: "[a-"\n    replica: {url: s3://b/p}\n', "/etc/litestream.yml:3:14: dbs[0].pattern: malformed pattern \"[a-\": unterminated '['"],
  ["watch without dir", 'dbs:\n  - path: /db\n    watch: true\n    replica: {path: /r}\n', "/etc/litestream.yml:3:12: dbs[0].watch: 'watch' only applies to a 'dir' entry"],
  ["dup path", 'dbs:\n  - path: /db\n    replica: {path: /r1}\n  - path: /tmp/../db\n    replica: {path: /r2}\n', "/etc/litestream.yml:4:5: dbs[1].path: database /db is already configured by dbs[0] (line 2)"],
  ["dup meta", 'dbs:\n  - path: /a\n    meta-path: /m\n    replica: {path: /r1}\n  - path: /b\n    meta-path: /m\n    replica: {path: /r2}\n', "/etc/litestream.yml:5:5: dbs[1].meta-path: meta-path /m is already used by dbs[0] (line 2)"],
  ["dup replica", 'dbs:\n  - path: /a\n    replica: {url: s3://b/p}\n  - path: /b\n    replica: {url: s3://b/p}\n', "/etc/litestream.yml:4:5: dbs[1].replica: replica s3://b/p is already the replica of dbs[0] (line 2); each database needs its own"],
  ["url and path", 'dbs:\n  - path: /db\n    replica:\n      url: s3://b/p\n      path: other\n', "/etc/litestream.yml:5:13: dbs[0].replica.path: cannot set both url and path on an s3 replica; put the path in the url"],
  ["url and bucket", 'dbs:\n  - path: /db\n    replica:\n      url: s3://b/p\n      bucket: other\n', "/etc/litestream.yml:5:15: dbs[0].replica.bucket: cannot set both url and bucket on an s3 replica"],
  ["url and host", 'dbs:\n  - path: /db\n    replica:\n      url: sftp://u@h/p\n      host: h2\n', "/etc/litestream.yml:5:13: dbs[0].replica.host: cannot set both url and host on an sftp replica"],
  ["unknown type", 'dbs:\n  - path: /db\n    replica:\n      type: gcs\n      bucket: b\n', "/etc/litestream.yml:4:13: dbs[0].replica.type: unknown replica type \"gcs\" (did you mean \"gs\"?)"],
  ["unknown type far", 'dbs:\n  - path: /db\n    replica:\n      type: dropbox\n', "/etc/litestream.yml:4:13: dbs[0].replica.type: unknown replica type \"dropbox\" (supported: file, s3, gs, abs, sftp, webdav, nats, oss)"],
  ["unknown scheme", 'dbs:\n  - path: /db\n    replica:\n      url: ftp://h/p\n', "/etc/litestream.yml:4:12: dbs[0].replica.url: unknown replica URL scheme \"ftp\" (did you mean \"sftp\"?)"],
  ["url no scheme", 'dbs:\n  - path: /db\n    replica:\n      url: /backups/db\n', "/etc/litestream.yml:4:12: dbs[0].replica.url: \"/backups/db\" is not a URL (expected scheme://..., e.g. s3://bucket/path); a local directory goes in 'path'"],
  ["s3 no bucket", 'dbs:\n  - path: /db\n    replica:\n      type: s3\n      path: p\n', "/etc/litestream.yml:4:7: dbs[0].replica: an s3 replica needs 'url' (s3://bucket/path) or 'bucket'"],
  ["s3 url no bucket", 'dbs:\n  - path: /db\n    replica:\n      url: s3:///p\n', "/etc/litestream.yml:4:12: dbs[0].replica.url: replica URL \"s3:///p\": missing bucket"],
  ["file no path", 'dbs:\n  - path: /db\n    replica:\n      type: file\n', "/etc/litestream.yml:4:7: dbs[0].replica: a file replica needs 'path' (a directory) or a file:// 'url'"],
  ["sftp no user", 'dbs:\n  - path: /db\n    replica:\n      type: sftp\n      host: h\n', "/etc/litestream.yml:4:7: dbs[0].replica: an sftp replica needs a user ('user' or user@ in the url)"],
  ["sftp url no user", 'dbs:\n  - path: /db\n    replica:\n      url: sftp://h/p\n', "/etc/litestream.yml:4:12: dbs[0].replica.url: an sftp replica needs a user ('user' or user@ in the url)"],
  ["webdav no url", 'dbs:\n  - path: /db\n    replica:\n      type: webdav\n', "/etc/litestream.yml:4:7: dbs[0].replica: a webdav replica needs 'url' (webdav[s]://host/path) or 'webdav-url'"],
  ["webdav bad url", 'dbs:\n  - path: /db\n    replica:\n      type: webdav\n      webdav-url: ftp://x\n', "/etc/litestream.yml:5:19: dbs[0].replica.webdav-url: webdav-url must start with http:// or https:// (got \"ftp://x\")"],
  ["nats no bucket", 'dbs:\n  - path: /db\n    replica:\n      url: nats://h:4222\n', "/etc/litestream.yml:4:7: dbs[0].replica: a nats replica needs a bucket ('bucket' or nats://host/bucket)"],
  ["nats cert", 'dbs:\n  - path: /db\n    replica:\n      url: nats://h:4222/b\n      client-cert: /c.pem\n', "/etc/litestream.yml:5:20: dbs[0].replica.client-cert: client-cert and client-key must be given together"],
  ["no replica", 'dbs:\n  - path: /db\n', "/etc/litestream.yml:2:5: dbs[0]: a database needs a 'replica' (e.g. replica: {url: s3://bucket/path})"],
  ["both replica replicas", 'dbs:\n  - path: /db\n    replica: {path: /r}\n    replicas:\n      - path: /r2\n', "/etc/litestream.yml:5:7: dbs[0].replicas: cannot set both 'replica' and 'replicas'; use 'replica' for one, 'replicas' for several"],
  ["two replicas of one name", 'dbs:\n  - path: /db\n    replicas:\n      - path: /r1\n      - path: /r2\n', `/etc/litestream.yml:5:9: dbs[0].replicas[1]: two replicas are named "file" (the other is dbs[0].replicas[0]); give each a distinct 'name'`],
  ["one replica twice", 'dbs:\n  - path: /db\n    replicas:\n      - {name: a, path: /r1}\n      - {name: b, path: /r1}\n', "/etc/litestream.yml:5:9: dbs[0].replicas[1]: replica /r1 is given twice for this database"],
  ["empty replicas", 'dbs:\n  - path: /db\n    replicas: []\n', "/etc/litestream.yml:2:5: dbs[0]: a database needs a 'replica' (e.g. replica: {url: s3://bucket/path})"],
  ["age", 'dbs:\n  - path: /db\n    replica:\n      path: /r\n      age:\n        recipients: [age1xyz]\n', "/etc/litestream.yml:6:21: dbs[0].replica.age.recipients: age recipient: \"age1xyz\" is not an age X25519 recipient (age1 followed by 58 characters)"],
  ["global age", 'age:\n  identities: [/nonexistent/k]\ndbs:\n  - path: /db\n    replica: {path: /r}\n', "/etc/litestream.yml:2:15: age.identities: cannot read age identity file /nonexistent/k (ENOENT)"],
  ["level zero", 'levels:\n  - interval: 5m\n  - interval: 0s\n', "/etc/litestream.yml:3:15: levels[1].interval: compaction interval must be greater than 0 (got 0s)"],
  ["level negative", 'levels:\n  - interval: -1h\n', "/etc/litestream.yml:2:15: levels[0].interval: compaction interval must be greater than 0 (got -1h)"],
  ["level missing interval", 'levels:\n  - {}\n', "/etc/litestream.yml:2:5: levels[0]: a compaction level needs an interval (e.g. interval: 5m)"],
  ["level null", 'levels:\n  -\n', "/etc/litestream.yml:2:4: levels[0]: expected a mapping with an interval, got null"],
  ["nine levels", 'levels: [{interval: 1s},{interval: 1s},{interval: 1s},{interval: 1s},{interval: 1s},{interval: 1s},{interval: 1s},{interval: 1s},{interval: 1s}]\n', "/etc/litestream.yml:1:130: levels[8]: at most 8 compaction levels (L1..L8); level 9 is the snapshot level"],
  ["level unknown key", 'levels:\n  - interval: 1m\n    retention: 1h\n', "/etc/litestream.yml:3:5: levels[0].retention: unknown key (did you mean snapshot.retention (top level)?)"],
  ["snapshot interval zero", 'snapshot:\n  interval: 0s\n', "/etc/litestream.yml:2:13: snapshot.interval: must be greater than 0 (got 0s)"],
  ["snapshot retention neg", 'snapshot:\n  retention: -1h\n', "/etc/litestream.yml:2:14: snapshot.retention: must be greater than 0 (got -1h)"],
  ["snapshot unknown", 'snapshot:\n  intervals: 1h\n', "/etc/litestream.yml:2:3: snapshot.intervals: unknown key (did you mean \"interval\"?)"],
  ["l0 zero", 'l0-retention: 0s\n', "/etc/litestream.yml:1:15: l0-retention: must be greater than 0 (got 0s)"],
  ["l0 check zero", 'l0-retention-check-interval: 0s\n', "/etc/litestream.yml:1:30: l0-retention-check-interval: must be greater than 0 (got 0s)"],
  ["shutdown timeout neg", 'shutdown-sync-timeout: -1s\n', "/etc/litestream.yml:1:24: shutdown-sync-timeout: must not be negative (got -1s)"],
  ["shutdown interval zero", 'shutdown-sync-interval: 0s\n', "/etc/litestream.yml:1:25: shutdown-sync-interval: must be greater than 0 (got 0s)"],
  ["heartbeat url", 'heartbeat-url: ftp://x\n', "/etc/litestream.yml:1:16: heartbeat-url: heartbeat URL must start with http:// or https:// (got \"ftp://x\")"],
  ["heartbeat interval", 'heartbeat-interval: 30s\n', "/etc/litestream.yml:1:21: heartbeat-interval: heartbeat interval must be at least 1m (got 30s)"],
  ["addr no port", 'addr: localhost\n', "/etc/litestream.yml:1:7: addr: bind address \"localhost\": must specify a port (host:port)"],
  ["addr empty port", 'addr: "localhost:"\n', "/etc/litestream.yml:1:7: addr: bind address \"localhost:\": must specify a port (host:port)"],
  ["addr v6", 'addr: "::1:9090"\n', "/etc/litestream.yml:1:7: addr: bind address \"::1:9090\": too many colons (write IPv6 hosts as [::1]:9090)"],
  ["log level", 'logging:\n  level: loud\n', "/etc/litestream.yml:2:10: logging.level: unknown log level \"loud\" (expected trace, debug, info, warn or error)"],
  ["log type", 'logging:\n  type: xml\n', "/etc/litestream.yml:2:9: logging.type: unknown log type \"xml\" (expected text or json)"],
  ["socket perms", 'socket:\n  permissions: 077777\n', "/etc/litestream.yml:2:16: socket.permissions: file mode 77777 is out of range (expected e.g. 0600)"],
  ["validation neg", 'validation:\n  interval: -1s\n', "/etc/litestream.yml:2:13: validation.interval: must not be negative (got -1s)"],
  ["sse algo", 'dbs:\n  - path: /db\n    replica:\n      url: s3://b/p\n      sse-customer-algorithm: AES128\n      sse-customer-key: k\n', "/etc/litestream.yml:5:31: dbs[0].replica.sse-customer-algorithm: unsupported SSE-C algorithm \"AES128\" (only AES256)"],
  ["sse both", 'dbs:\n  - path: /db\n    replica:\n      url: s3://b/p\n      sse-customer-key: k\n      sse-kms-key-id: id\n', "/etc/litestream.yml:6:23: dbs[0].replica.sse-kms-key-id: SSE-KMS cannot be combined with SSE-C (sse-customer-key)"],
  ["concurrency 0", 'dbs:\n  - path: /db\n    replica:\n      url: s3://b/p\n      concurrency: 0\n', "/etc/litestream.yml:5:20: dbs[0].replica.concurrency: concurrency must be at least 1"],
  ["s3 part-size below 5 MiB", 'dbs:\n  - path: /db\n    replica:\n      url: s3://b/p\n      part-size: 1MB\n', "/etc/litestream.yml:5:18: dbs[0].replica.part-size: part size 1000000 is below S3's minimum of 5 MiB (5242880 bytes)"],
  ["part-size 0", 'dbs:\n  - path: /db\n    replica:\n      url: s3://b/p\n      part-size: 0\n', "/etc/litestream.yml:5:18: dbs[0].replica.part-size: part size must be greater than 0"],
  ["trunc neg", 'dbs:\n  - path: /db\n    truncate-page-n: -1\n    replica: {path: /r}\n', "/etc/litestream.yml:3:22: dbs[0].truncate-page-n: must not be negative (got -1; 0 turns it off)"],
  ["min ckpt 0", 'dbs:\n  - path: /db\n    min-checkpoint-page-count: 0\n    replica: {path: /r}\n', "/etc/litestream.yml:3:32: dbs[0].min-checkpoint-page-count: must be greater than 0 (got 0)"],
  ["monitor neg", 'dbs:\n  - path: /db\n    monitor-interval: -1s\n    replica: {path: /r}\n', "/etc/litestream.yml:3:23: dbs[0].monitor-interval: must not be negative (got -1s)"],
  ["dup key", 'dbs:\n  - path: /a\n    path: /b\n    replica: {path: /r}\n', "/etc/litestream.yml:3:5: invalid YAML: duplicate key (a key may appear only once in a mapping)"],
  ["yaml syntax", 'dbs:\n  - path: /a\n   replica: {path: /r}\n', "/etc/litestream.yml:3:1: invalid YAML: Sequence item without - indicator"],
  ["tabs", 'dbs:\n\t- path: /a\n', "/etc/litestream.yml:2:1: invalid YAML: Tabs are not allowed as indentation"],
  ["top not map", '- a\n- b\n', "/etc/litestream.yml:1:1: expected a mapping, got a list"],
  ["root cas not list", 'dbs:\n  - path: /db\n    replica:\n      url: nats://h/b\n      root-cas: /ca.pem\n', "/etc/litestream.yml:5:17: dbs[0].replica.root-cas: expected a list of strings, got \"/ca.pem\""],
  ["non scalar key", '? [a]\n: b\n', "/etc/litestream.yml:1:3: mapping keys must be plain names"],
  ["int float", 'dbs:\n  - path: /db\n    replica:\n      url: s3://b/p\n      concurrency: 2.5\n', "/etc/litestream.yml:5:20: dbs[0].replica.concurrency: expected an integer, got \"2.5\""],
  ["merge bad", 'dbs:\n  - path: /db\n    replica:\n      <<: 5\n', "/etc/litestream.yml:4:11: dbs[0].replica: a merge key (<<) must refer to a mapping"],
];

describe('invalid configurations get one precise error', () => {
  for (const [name, text, message] of INVALID) {
    it(name, () => {
      const err = parseError(text);
      assert.equal(err.message, message);
      assertFieldsMatchMessage(err);
    });
  }

  it('~ without a home directory', () => {
    const err = parseError('dbs:\n  - path: ~/db\n    replica: {path: /r}\n', '');
    assert.equal(err.message, `${FILE}:2:11: dbs[0].path: cannot expand "~/db": no home directory`);
  });
});

describe('dir entries must name an existing directory', () => {
  let tmp = '';
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-config-'));
    writeFileSync(join(tmp, 'plain-file'), 'x');
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('a missing directory', () => {
    const dir = join(tmp, 'missing');
    const err = parseError(`dbs:\n  - dir: ${dir}\n    pattern: "*.db"\n    replica: {url: s3://b/p}\n`);
    assert.equal(err.message, `${FILE}:2:10: dbs[0].dir: directory ${dir} does not exist or cannot be read`);
    assert.ok(err.cause !== undefined);
  });

  it('a file where a directory is expected', () => {
    const file = join(tmp, 'plain-file');
    const err = parseError(`dbs:\n  - dir: ${file}\n    pattern: "*.db"\n    replica: {url: s3://b/p}\n`);
    assert.equal(err.message, `${FILE}:2:10: dbs[0].dir: ${file} is not a directory`);
  });

  it('checkDirs: false skips the check (a config read on another machine)', () => {
    const c = parseConfig(`dbs:\n  - dir: ${join(tmp, 'missing')}\n    pattern: "*.db"\n    replica: {url: s3://b/p}\n`, {
      filename: FILE,
      checkDirs: false,
    });
    assert.equal(c.dbs[0]!.dir!.path, join(tmp, 'missing'));
  });
});

describe('errors without a filename', () => {
  it('name the text <config>', () => {
    assert.throws(() => parseConfig('bogus: 1\n'), { message: '<config>:1:1: bogus: unknown key' });
  });
});
