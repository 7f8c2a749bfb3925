import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, ConfigNotFoundError } from '../../src/config/errors.js';
import {
  DEFAULT_LITESTREAM_CONFIG_PATH,
  DEFAULT_TIDEMARK_CONFIG_PATH,
  loadConfig,
  resolveConfigPath,
} from '../../src/config/load-config.js';
import { parseConfig } from '../../src/config/parse-config.js';

let tmp = '';
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tidemark-load-config-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('loadConfig', () => {
  it('reads a file, naming it in the result and in errors', async () => {
    const file = join(tmp, 'litestream.yml');
    writeFileSync(file, 'dbs:\n  - path: /db\n    replica:\n      url: s3://bkt/$BUCKET_PATH\n');
    const c = await loadConfig(file, { env: { BUCKET_PATH: 'db' } });
    assert.equal(c.file, file);
    assert.equal(c.dbs[0]!.replica.url, 's3://bkt/db');
    assert.equal(c.dbs[0]!.source.file, file);

    const raw = await loadConfig(file, { expandEnv: false });
    assert.equal(raw.dbs[0]!.replica.url, 's3://bkt/$BUCKET_PATH');
  });

  it('resolves a relative or ~ config path first', async () => {
    writeFileSync(join(tmp, 'rel.yml'), 'exec: app\n');
    assert.equal((await loadConfig('rel.yml', { cwd: tmp })).file, join(tmp, 'rel.yml'));
    assert.equal((await loadConfig('~/rel.yml', { homeDir: tmp })).file, join(tmp, 'rel.yml'));
  });

  it('a missing file is ConfigNotFoundError with the absolute path', async () => {
    await assert.rejects(loadConfig('nope.yml', { cwd: tmp }), (err: unknown) => {
      assert.ok(err instanceof ConfigNotFoundError);
      assert.ok(err instanceof ConfigError);
      assert.equal(err.message, `${join(tmp, 'nope.yml')}: config file not found`);
      assert.equal(err.line, undefined);
      return true;
    });
  });

  it('a directory is an unreadable config, not a missing one', async () => {
    await assert.rejects(loadConfig(tmp), (err: unknown) => {
      assert.ok(err instanceof ConfigError && !(err instanceof ConfigNotFoundError));
      assert.equal(err.message, `${tmp}: cannot read config file (EISDIR)`);
      return true;
    });
  });

  it('errors inside the file carry its path, line and key', async () => {
    const file = join(tmp, 'bad.yml');
    writeFileSync(file, 'dbs:\n  - path: /db\n    replica:\n      url: s3://b/p\n      sync-interval: 5x\n');
    await assert.rejects(loadConfig(file), {
      name: 'ConfigError',
      message: `${file}:5:22: dbs[0].replica.sync-interval: invalid duration "5x": unknown unit "x" (expected e.g. 1s, 500ms, 1h30m)`,
      file,
      line: 5,
      column: 22,
      keyPath: 'dbs[0].replica.sync-interval',
    });
  });
});

describe('resolveConfigPath', () => {
  const none = (): boolean => false;
  const all = (): boolean => true;
  const cases: Array<[string, Parameters<typeof resolveConfigPath>[0], string, string]> = [
    ['-config wins', { explicit: '/x.yml', env: { TIDEMARK_CONFIG: '/t.yml', LITESTREAM_CONFIG: '/l.yml' }, exists: all }, '/x.yml', 'flag'],
    ['then $TIDEMARK_CONFIG', { env: { TIDEMARK_CONFIG: '/t.yml', LITESTREAM_CONFIG: '/l.yml' }, exists: all }, '/t.yml', 'TIDEMARK_CONFIG'],
    ['then $LITESTREAM_CONFIG', { explicit: '', env: { TIDEMARK_CONFIG: '', LITESTREAM_CONFIG: '/l.yml' }, exists: all }, '/l.yml', 'LITESTREAM_CONFIG'],
    ['then /etc/tidemark.yml when it exists', { env: {}, exists: all }, DEFAULT_TIDEMARK_CONFIG_PATH, 'default'],
    ['else /etc/litestream.yml', { env: {}, exists: none }, DEFAULT_LITESTREAM_CONFIG_PATH, 'default'],
  ];
  for (const [name, options, path, source] of cases) {
    it(name, () => assert.deepEqual(resolveConfigPath(options), { path, source }));
  }

  it('only asks about the default paths', () => {
    const asked: string[] = [];
    resolveConfigPath({ env: {}, exists: (p) => (asked.push(p), false) });
    assert.deepEqual(asked, [DEFAULT_TIDEMARK_CONFIG_PATH]);
  });
});

describe('warnings', () => {
  const FILE = '/etc/litestream.yml';
  const cases: Array<[string, string, string[]]> = [
    [
      'deprecated replicas list',
      'dbs:\n  - path: /db\n    replicas:\n      - path: /r\n',
      ["3:5 dbs[0].replicas: 'replicas' with one entry is deprecated; use 'replica' (a single mapping)"],
    ],
    ['deprecated name', 'dbs:\n  - path: /db\n    replica:\n      name: main\n      path: /r\n', ['4:7 dbs[0].replica.name: name is deprecated and ignored']],
    [
      'type contradicting the url',
      'dbs:\n  - path: /db\n    replica:\n      type: file\n      url: s3://b/p\n',
      ['4:7 dbs[0].replica.type: type file is ignored: the url scheme makes this an s3 replica'],
    ],
    [
      'option for another backend',
      'dbs:\n  - path: /db\n    replica:\n      path: /r\n      bucket: b\n      region: us-east-1\n',
      ['5:7 dbs[0].replica.bucket: bucket does not apply to file replicas and is ignored', '6:7 dbs[0].replica.region: region does not apply to file replicas and is ignored'],
    ],
    // Unlike in Litestream, a replica's validation-interval takes effect: it is no warning.
    ['validation-interval is used', 'validation-interval: 1m\ndbs:\n  - path: /db\n    replica: {path: /r}\n', []],
    ['pattern without dir', 'dbs:\n  - path: /db\n    pattern: "*.db"\n    replica: {path: /r}\n', ["3:5 dbs[0].pattern: pattern is ignored without 'dir'"]],
    [
      'keys for features tidemark does not have yet',
      'addr: ":9090"\nmcp-addr: ":3001"\nheartbeat-url: https://hc.example/ping\nheartbeat-interval: 5m\nshutdown-sync-timeout: 10s\nshutdown-sync-interval: 1s\nsocket:\n  enabled: false\n',
      [
        '2:1 mcp-addr: mcp-addr has no effect yet: tidemark serves no MCP tools',
      ],
    ],
    ['socket enabled', 'socket:\n  enabled: true\n', ['2:3 socket.enabled: socket.enabled has no effect yet: tidemark has no control socket (list, info, sync and the other socket commands)']],
    ['path on a nats replica', 'dbs:\n  - path: /db\n    replica:\n      url: nats://h/b\n      path: x\n', ['5:7 dbs[0].replica.path: path is ignored for nats replicas (the bucket holds the files)']],
  ];
  for (const [name, text, want] of cases) {
    it(name, () => {
      const c = parseConfig(text, { filename: FILE, env: {} });
      assert.deepEqual(
        c.warnings.map((w) => `${w.location.line}:${w.location.column} ${w.location.keyPath}: ${w.message}`),
        want,
      );
      for (const w of c.warnings) assert.equal(w.location.file, FILE);
    });
  }
});
