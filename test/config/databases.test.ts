import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  dirEntryMetaPath,
  expandDirDatabases,
  findDatabase,
  findSqliteDatabases,
  isSqliteDatabase,
  replicaForRelativePath,
  resolveDatabases,
} from '../../src/config/databases.js';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/parse-config.js';
import type { DbConfig, ReplicaConfig, TidemarkConfig } from '../../src/config/types.js';
import { parseReplicaUrl } from '../../src/storage/replica-url.js';

function makeDb(path: string): void {
  const db = new Database(path);
  db.exec('CREATE TABLE t (x)');
  db.close();
}

let tmp = '';
let root = '';

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tidemark-config-dbs-'));
  root = join(tmp, 'data');
  mkdirSync(join(root, 'tenants', 'eu'), { recursive: true });
  mkdirSync(join(root, 'empty'));
  makeDb(join(root, 'a.db'));
  makeDb(join(root, 'b.db'));
  makeDb(join(root, 'b.sqlite'));
  makeDb(join(root, 'with space #1.db'));
  writeFileSync(join(root, 'notes.db'), 'not a database, but named like one');
  writeFileSync(join(root, 'short.db'), 'SQLite');
  makeDb(join(root, 'tenants', 'c.db'));
  makeDb(join(root, 'tenants', 'eu', 'd.db'));
  symlinkSync(join(root, 'a.db'), join(root, 'tenants', 'link-to-a.db'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function config(text: string): TidemarkConfig {
  return parseConfig(text, { filename: join(tmp, 'litestream.yml'), env: { ROOT: root }, cwd: tmp, homeDir: tmp });
}

describe('isSqliteDatabase', () => {
  it('looks at the 16-byte header only', async () => {
    assert.equal(await isSqliteDatabase(join(root, 'a.db')), true);
    assert.equal(await isSqliteDatabase(join(root, 'notes.db')), false);
    assert.equal(await isSqliteDatabase(join(root, 'short.db')), false);
    assert.equal(await isSqliteDatabase(join(root, 'missing.db')), false);
    assert.equal(await isSqliteDatabase(root), false);
  });
});

describe('findSqliteDatabases', () => {
  it('matches base names and skips files that are not databases', async () => {
    assert.deepEqual(await findSqliteDatabases(root, '*.db', false), [
      join(root, 'a.db'),
      join(root, 'b.db'),
      join(root, 'with space #1.db'),
    ]);
    assert.deepEqual(await findSqliteDatabases(root, 'b.*', false), [join(root, 'b.db'), join(root, 'b.sqlite')]);
  });

  it('follows a root directory that is a symbolic link', async () => {
    const link = join(tmp, 'data-link');
    symlinkSync(root, link);
    assert.deepEqual(await findSqliteDatabases(link, 'a.db', false), [join(link, 'a.db')]);
    const c = config(`dbs:\n  - dir: ${link}\n    pattern: "a.db"\n    replica: {url: s3://bkt/l}\n`);
    assert.deepEqual((await expandDirDatabases(c.dbs[0]!)).map((d) => d.replica.url), ['s3://bkt/l/a.db']);
  });

  it('enters subdirectories only when recursive, in sorted depth-first order', async () => {
    assert.deepEqual(await findSqliteDatabases(root, '*.db', true), [
      join(root, 'a.db'),
      join(root, 'b.db'),
      join(root, 'tenants', 'c.db'),
      join(root, 'tenants', 'eu', 'd.db'),
      join(root, 'tenants', 'link-to-a.db'),
      join(root, 'with space #1.db'),
    ]);
  });
});

describe('expandDirDatabases', () => {
  it('gives each database its path, meta path and replica location (s3 url)', async () => {
    const c = config(`
dbs:
  - dir: $ROOT
    pattern: "*.db"
    recursive: true
    replica:
      url: s3://bkt/base?endpoint=http://localhost:9000
`);
    const found = await expandDirDatabases(c.dbs[0]!);
    assert.deepEqual(
      found.map((d) => [d.relPath, d.metaPath, d.replica.url]),
      [
        ['a.db', join(root, '.a.db-tidemark'), 's3://bkt/base/a.db?endpoint=http://localhost:9000'],
        ['b.db', join(root, '.b.db-tidemark'), 's3://bkt/base/b.db?endpoint=http://localhost:9000'],
        ['tenants/c.db', join(root, 'tenants', '.c.db-tidemark'), 's3://bkt/base/tenants/c.db?endpoint=http://localhost:9000'],
        ['tenants/eu/d.db', join(root, 'tenants', 'eu', '.d.db-tidemark'), 's3://bkt/base/tenants/eu/d.db?endpoint=http://localhost:9000'],
        [
          'tenants/link-to-a.db',
          join(root, 'tenants', '.link-to-a.db-tidemark'),
          's3://bkt/base/tenants/link-to-a.db?endpoint=http://localhost:9000',
        ],
        ['with space #1.db', join(root, '.with space #1.db-tidemark'), 's3://bkt/base/with%20space%20%231.db?endpoint=http://localhost:9000'],
      ],
    );
    for (const d of found) {
      assert.equal(d.entry, c.dbs[0]);
      const u = parseReplicaUrl(d.replica.url);
      assert.ok(u.scheme === 's3' && u.path === `base/${d.relPath}`, d.replica.url);
    }
  });

  it('puts meta directories under meta-path, mirroring the tree', async () => {
    const c = config(`
dbs:
  - dir: $ROOT
    pattern: "*.db"
    recursive: true
    meta-path: ${join(tmp, 'state')}
    replica:
      path: ${join(tmp, 'backup')}
`);
    const found = await expandDirDatabases(c.dbs[0]!);
    const byRel = new Map(found.map((d) => [d.relPath, d]));
    assert.equal(byRel.get('a.db')!.metaPath, join(tmp, 'state', '.a.db-tidemark'));
    assert.equal(byRel.get('tenants/eu/d.db')!.metaPath, join(tmp, 'state', 'tenants', 'eu', '.d.db-tidemark'));
    assert.equal(byRel.get('tenants/eu/d.db')!.replica.url, join(tmp, 'backup', 'tenants', 'eu', 'd.db'));
  });

  it('an empty match is an error without watch and fine with it', async () => {
    const text = (watch: boolean): string => `
dbs:
  - dir: $ROOT/empty
    pattern: "*.db"
    watch: ${watch}
    replica:
      url: s3://bkt/empty
`;
    await assert.rejects(expandDirDatabases(config(text(false)).dbs[0]!), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.keyPath, 'dbs[0].dir');
      assert.equal(err.line, 3);
      assert.match(err.message, /no SQLite databases found in .*empty matching "\*\.db"$/);
      return true;
    });
    assert.deepEqual(await expandDirDatabases(config(text(true)).dbs[0]!), []);
  });

  it('a directory removed after loading is reported at the dir key', async () => {
    const gone = join(tmp, 'gone');
    mkdirSync(gone);
    const c = config(`dbs:\n  - dir: ${gone}\n    pattern: "*.db"\n    replica: {url: s3://b/p}\n`);
    rmSync(gone, { recursive: true });
    await assert.rejects(expandDirDatabases(c.dbs[0]!), /litestream\.yml:2:10: dbs\[0\]\.dir: cannot scan directory .*gone \(ENOENT\)/);
  });
});

describe('resolveDatabases', () => {
  it('lists path entries and scanned dir entries together', async () => {
    const c = config(`
dbs:
  - path: ${join(tmp, 'single.db')}
    replica: {url: s3://bkt/single}
  - dir: $ROOT/tenants
    pattern: "*.db"
    replica: {url: gs://bkt/tenants}
`);
    const all = await resolveDatabases(c);
    assert.deepEqual(
      all.map((d) => [d.path, d.metaPath, d.replica.url, d.relPath]),
      [
        [join(tmp, 'single.db'), join(tmp, '.single.db-tidemark'), 's3://bkt/single', undefined],
        [join(root, 'tenants', 'c.db'), join(root, 'tenants', '.c.db-tidemark'), 'gs://bkt/tenants/c.db', 'c.db'],
        [join(root, 'tenants', 'link-to-a.db'), join(root, 'tenants', '.link-to-a.db-tidemark'), 'gs://bkt/tenants/link-to-a.db', 'link-to-a.db'],
      ],
    );
  });

  it('a database named by a path entry and found by a dir entry is an error', async () => {
    const c = config(`
dbs:
  - path: $ROOT/a.db
    replica: {url: s3://bkt/a}
  - dir: $ROOT
    pattern: "a.*"
    replica: {url: s3://bkt/dir}
`);
    await assert.rejects(resolveDatabases(c), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.keyPath, 'dbs[1]');
      assert.match(err.reason, /^database .*a\.db is also configured by dbs\[0\] \(line 3\)$/);
      return true;
    });
  });
});

describe('findDatabase (restore DB_PATH and friends)', () => {
  const c = (): TidemarkConfig =>
    config(`
dbs:
  - path: ~/app.db
    replica: {url: s3://bkt/app}
  - dir: $ROOT
    pattern: "*.db"
    recursive: true
    replica: {url: s3://bkt/dir}
  - dir: $ROOT/tenants
    pattern: "*.db"
    replica: {url: s3://bkt/flat}
`);

  it('finds a path entry by any spelling of its path', () => {
    for (const p of [join(tmp, 'app.db'), '~/app.db', './app.db', 'sqlite://app.db']) {
      const d = findDatabase(c(), p, { cwd: tmp, homeDir: tmp });
      assert.equal(d?.path, join(tmp, 'app.db'), p);
      assert.equal(d?.replica.url, 's3://bkt/app');
    }
  });

  it('finds a database a dir entry covers, even before it exists', () => {
    const cfg = c();
    const d = findDatabase(cfg, join(root, 'tenants', 'new', 'x.db'), { cwd: tmp });
    assert.equal(d?.replica.url, 's3://bkt/dir/tenants/new/x.db');
    assert.equal(d?.relPath, 'tenants/new/x.db');
    assert.equal(d?.metaPath, join(root, 'tenants', 'new', '.x.db-tidemark'));
    assert.equal(d?.entry, cfg.dbs[1]);
    // The first dir entry that covers the path wins; a non-recursive entry only covers its own directory.
    assert.equal(findDatabase(cfg, join(root, 'tenants', 'c.db'), { cwd: tmp })?.entry, cfg.dbs[1]);
  });

  it('returns undefined for a path no entry covers', () => {
    assert.equal(findDatabase(c(), join(root, 'a.sqlite'), { cwd: tmp }), undefined);
    assert.equal(findDatabase(c(), join(tmp, 'elsewhere.db'), { cwd: tmp }), undefined);
    assert.equal(findDatabase(c(), join(root, '..', 'a.db'), { cwd: tmp }), undefined);
  });
});

describe('replica locations of databases under a dir entry', () => {
  const base = (type: ReplicaConfig['type'], url: string): ReplicaConfig => ({
    type,
    url,
    name: undefined,
    syncIntervalMs: 1000,
    validationIntervalMs: undefined,
    autoRecover: false,
    options: {},
    source: { file: 'f', keyPath: 'dbs[0].replica' },
  });
  const cases: Array<[ReplicaConfig['type'], string, string, string]> = [
    ['file', '/backups', 'x/y.db', '/backups/x/y.db'],
    ['s3', 's3://bkt', 'y.db', 's3://bkt/y.db'],
    ['s3', 's3://bkt/base/', 'y.db', 's3://bkt/base/y.db'],
    ['s3', 's3://bkt/base?region=auto#frag', 'a/y.db', 's3://bkt/base/a/y.db?region=auto#frag'],
    ['s3', 's3://arn:aws:s3:us-east-1:123456789012:accesspoint/ap/base', 'y.db', 's3://arn:aws:s3:us-east-1:123456789012:accesspoint/ap/base/y.db'],
    ['sftp', 'sftp://u@h:22/srv/b', 'y.db', 'sftp://u@h:22/srv/b/y.db'],
    ['sftp', 'sftp://u@h:22//srv/b', 'y.db', 'sftp://u@h:22//srv/b/y.db'],
    ['abs', 'abs://acct@container/p%20q', 'y.db', 'abs://acct@container/p%20q/y.db'],
    ['s3', 's3://bkt/p', '.', 's3://bkt/p'],
  ];
  for (const [type, url, rel, want] of cases) {
    it(`${url} + ${rel} = ${want}`, () => assert.equal(replicaForRelativePath(base(type, url), rel).url, want));
  }

  it('meta paths mirror the relative path', () => {
    assert.equal(dirEntryMetaPath('/state', 'a.db'), '/state/.a.db-tidemark');
    assert.equal(dirEntryMetaPath('/state', 'x/y/z.db'), '/state/x/y/.z.db-tidemark');
    assert.equal(dirEntryMetaPath('/state', '.'), '/state');
  });
});

describe('DbConfig for a dir entry', () => {
  it('keeps the settings every discovered database shares', async () => {
    const c = config(`
dbs:
  - dir: $ROOT/tenants
    pattern: "*.db"
    monitor-interval: 5s
    checkpoint-interval: 2m
    replica: {url: s3://bkt/t, sync-interval: 3s}
`);
    const entry: DbConfig = c.dbs[0]!;
    const found = await expandDirDatabases(entry);
    assert.ok(found.length > 0);
    for (const d of found) {
      assert.equal(d.entry.monitorIntervalMs, 5000);
      assert.equal(d.entry.checkpointIntervalMs, 120_000);
      assert.equal(d.replica.syncIntervalMs, 3000);
    }
  });
});
