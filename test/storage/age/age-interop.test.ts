import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgeReplicaClient } from '../../../src/storage/age/age-replica-client.js';
import { AgeDecryptError } from '../../../src/storage/age/age-errors.js';
import { MAX_AGE_RECIPIENTS } from '../../../src/storage/age/age-settings.js';
import { FileReplicaClient, ltxFilePath } from '../../../src/storage/file-replica-client.js';
import { HEADER_SIZE } from '../../../src/ltx/constants.js';
import { chunked, collect, makeLtxFile } from '../ltx-fixtures.js';
import { KEY_A, KEY_B, KEY_C } from './age-test-keys.js';

/** Debian's age, the Go reference implementation. */
const AGE = '/usr/bin/age';
const T0 = Date.UTC(2025, 10, 11, 12, 13, 14, 150);

describe('interoperability with the age command-line tool (Go)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tidemark-age-interop-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('age -d decrypts what follows the public header, for every number of recipients the header has room for', async () => {
    const keys = [KEY_A, KEY_B, KEY_C];
    const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0, pages: 20, pageSize: 4096, incompressible: true });
    for (let n = 1; n <= MAX_AGE_RECIPIENTS; n++) {
      const root = join(dir, `n${n}`);
      const recipients = Array.from({ length: n }, (_, i) => keys[i % keys.length]!.recipient);
      await new AgeReplicaClient(new FileReplicaClient(root), { recipients, identities: [] }, `replica ${root}`).writeLtxFile(0, 1n, 1n, chunked(bytes));
      const stored = await readFile(ltxFilePath(root, 0, 1n, 1n));
      const idFile = join(dir, `id-${n}.txt`);
      const key = keys[(n - 1) % keys.length]!;
      await writeFile(idFile, `${key.identity}\n`);
      const plain = execFileSync(AGE, ['--decrypt', '--identity', idFile], { input: stored.subarray(HEADER_SIZE), maxBuffer: 64 * 1024 * 1024 });
      assert.ok(plain.equals(bytes), `${n} recipients`);
    }
  });

  it('a file age itself encrypted (unpadded header) is refused as damaged, not misread', async () => {
    const root = join(dir, 'from-age');
    const client = new AgeReplicaClient(new FileReplicaClient(root), { recipients: [KEY_A.recipient], identities: [KEY_A.identity] }, `replica ${root}`);
    const bytes = await makeLtxFile({ minTxid: 2n, maxTxid: 2n, timestamp: T0, pages: 30, pageSize: 4096, incompressible: true });
    // Written by the client first, for its public header and padded age header layout.
    await client.writeLtxFile(0, 2n, 2n, chunked(bytes));
    const path = ltxFilePath(root, 0, 2n, 2n);
    const ours = await readFile(path);
    const theirs = execFileSync(AGE, ['--encrypt', '--recipient', KEY_A.recipient], { input: bytes, maxBuffer: 64 * 1024 * 1024 });
    await writeFile(path, Buffer.concat([ours.subarray(0, HEADER_SIZE), theirs]));
    // The layout promises a fixed-size header; the payload would start in the wrong place.
    await assert.rejects(async () => collect(await client.openLtxFile(0, 2n, 2n)), (err: unknown) => {
      assert.ok(err instanceof AgeDecryptError, String(err));
      assert.match(err.message, /damaged|fails authentication/);
      return true;
    });
  });
});
