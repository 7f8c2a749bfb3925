// restore() over an existing database (force, an empty file, a directory),
// its progress reports, and planRestore, the dry run that writes nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeLtx } from '../../src/ltx/decoder.js';
import { RestoreOutputExistsError, RestoreSidecarExistsError, RestoreTargetUnavailableError } from '../../src/restore/errors.js';
import { planRestore, restore, type RestoreProgress } from '../../src/restore/restore.js';
import type { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { makeLtxFile } from '../storage/ltx-fixtures.js';
import { encodeLtx, listDir, makeReplica, makeTempDir, putLtx, T0 } from './replica-fixtures.js';

const PAGE_SIZE = 4096;
const PAGES = 64;
const L0_FILES = 5;

describe('restore over an existing output, progress, and the dry-run plan', () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  let client: FileReplicaClient;
  let image: Uint8Array;
  let outputs = 0;
  const outDir = async (): Promise<string> => {
    const d = join(dir, `out-${outputs++}`);
    await mkdir(d);
    return d;
  };

  before(async () => {
    ({ dir, cleanup } = await makeTempDir('restore-force'));
    client = await makeReplica(dir, 'replica');
    image = new Uint8Array(PAGES * PAGE_SIZE);
    const snapshot = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0, pages: PAGES, pageSize: PAGE_SIZE, incompressible: true });
    for (const p of (await decodeLtx(snapshot)).pages) image.set(p.data, (p.pgno - 1) * PAGE_SIZE);
    await putLtx(client, 0, snapshot);
    for (let t = 2; t <= L0_FILES + 1; t++) {
      const data = new Uint8Array(PAGE_SIZE).fill(t);
      image.set(data, (t - 1) * PAGE_SIZE);
      await putLtx(client, 0, await encodeLtx({ pageSize: PAGE_SIZE, commit: PAGES, minTxid: BigInt(t), maxTxid: BigInt(t), timestamp: T0 + t * 1000, pages: [{ pgno: t, data }] }));
    }
  });
  after(() => cleanup());

  it('without force, a non-empty file is refused and left as it was; an empty file is replaced', async () => {
    const d = await outDir();
    const out = join(d, 'db');
    await writeFile(out, 'precious');
    await assert.rejects(restore({ client, outputPath: out }), RestoreOutputExistsError);
    assert.equal(await readFile(out, 'utf8'), 'precious');
    const empty = join(d, 'empty');
    await writeFile(empty, '');
    const r = await restore({ client, outputPath: empty });
    assert.equal(r.txid, BigInt(L0_FILES + 1));
    assert.deepEqual(new Uint8Array(await readFile(empty)), image);
  });

  it('an empty file with a journal beside it is still refused without force', async () => {
    const d = await outDir();
    const out = join(d, 'db');
    await writeFile(out, '');
    await writeFile(out + '-wal', 'old frames');
    await assert.rejects(restore({ client, outputPath: out }), RestoreSidecarExistsError);
    assert.deepEqual(await listDir(d), ['db', 'db-wal']);
  });

  it('force replaces the database and removes its -wal, -shm and -journal files', async () => {
    const d = await outDir();
    const out = join(d, 'db');
    await writeFile(out, 'old database');
    for (const s of ['-wal', '-shm', '-journal']) await writeFile(out + s, `old ${s}`);
    await writeFile(join(d, 'unrelated'), 'stays');
    const r = await restore({ client, outputPath: out, force: true });
    assert.ok(r.restored);
    assert.deepEqual(new Uint8Array(await readFile(out)), image);
    assert.deepEqual(await listDir(d), ['db', 'unrelated']);
  });

  it('force with a restore that fails leaves the old database and its files untouched', async () => {
    const d = await outDir();
    const out = join(d, 'db');
    await writeFile(out, 'old database');
    await writeFile(out + '-wal', 'old frames');
    await assert.rejects(restore({ client, outputPath: out, force: true, txid: 999n }), RestoreTargetUnavailableError);
    assert.equal(await readFile(out, 'utf8'), 'old database');
    assert.equal(await readFile(out + '-wal', 'utf8'), 'old frames');
    assert.deepEqual(await listDir(d), ['db', 'db-wal']);
  });

  it('a directory at the output path is refused, with force too', async () => {
    const d = await outDir();
    const out = join(d, 'db');
    await mkdir(out);
    for (const force of [false, true]) {
      await assert.rejects(restore({ client, outputPath: out, force }), (err: unknown) => {
        assert.ok(err instanceof RestoreOutputExistsError);
        assert.equal(err.message, `cannot restore, output path is a directory: ${out}`);
        return true;
      });
    }
    assert.deepEqual(await listDir(out), []);
  });

  it('reports progress: fetched bytes grow to the plan size, pages written to the page count', async () => {
    const d = await outDir();
    const seen: RestoreProgress[] = [];
    const r = await restore({ client, outputPath: join(d, 'db'), onProgress: (p) => seen.push(p) });
    assert.ok(seen.length >= L0_FILES + 1, `${seen.length} reports`);
    const plan = await planRestore({ client });
    assert.equal(plan.format, 'ltx');
    const planned = plan.format === 'ltx' ? plan.plan.files.reduce((n, f) => n + f.size, 0) : -1;
    for (let i = 1; i < seen.length; i++) {
      assert.ok(seen[i]!.bytesFetched >= seen[i - 1]!.bytesFetched);
      assert.ok(seen[i]!.pagesWritten >= seen[i - 1]!.pagesWritten);
    }
    const last = seen.at(-1)!;
    assert.equal(last.bytesToFetch, planned);
    assert.equal(last.bytesFetched, planned);
    assert.equal(last.pagesWritten, r.pageCount);
    assert.equal(last.bytesWritten, r.bytes);
  });

  it('planRestore gives the files restore() merges and writes nothing', async () => {
    const d = await outDir();
    const plan = await planRestore({ client, txid: 3n });
    assert.equal(plan.format, 'ltx');
    if (plan.format !== 'ltx') return;
    assert.deepEqual(
      plan.plan.files.map((f) => `${f.level}:${f.minTxid}-${f.maxTxid}`),
      ['0:1-1', '0:2-2', '0:3-3'],
    );
    assert.equal(plan.plan.txid, 3n);
    const r = await restore({ client, outputPath: join(d, 'db'), txid: 3n });
    assert.equal(r.files, plan.plan.files.length);
    await assert.rejects(planRestore({ client, txid: 999n }), RestoreTargetUnavailableError);
    assert.deepEqual(await listDir(d), ['db']);
  });
});
