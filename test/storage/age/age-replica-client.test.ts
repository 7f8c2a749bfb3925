import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Decrypter } from 'age-encryption';
import { AgeReplicaClient } from '../../../src/storage/age/age-replica-client.js';
import { AgeDecryptError, AgeReplicaError } from '../../../src/storage/age/age-errors.js';
import { AGE_CHUNK_SIZE, AGE_HEADER_SLOT_SIZE, storedSizeOf } from '../../../src/storage/age/age-object-layout.js';
import { MAX_AGE_RECIPIENTS } from '../../../src/storage/age/age-settings.js';
import { FileReplicaClient, ltxFilePath } from '../../../src/storage/file-replica-client.js';
import { createReplicaClient } from '../../../src/storage/replica-url.js';
import { HEADER_SIZE } from '../../../src/ltx/constants.js';
import { decodeHeader, validateHeader } from '../../../src/ltx/header.js';
import { runReplicaClientConformance } from '../conformance.js';
import { chunked, collect, listAll, makeLtxFile } from '../ltx-fixtures.js';
import { KEY_A, KEY_B, KEY_C } from './age-test-keys.js';

const T0 = Date.UTC(2025, 2, 4, 5, 6, 7, 891);

async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tidemark-age-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

function ageClient(root: string, recipients: string[], identities: string[]): AgeReplicaClient {
  return new AgeReplicaClient(new FileReplicaClient(root), { recipients, identities }, `replica ${root}`);
}

runReplicaClientConformance('age around file', async () => {
  const { dir, cleanup } = await tempDir();
  return { client: ageClient(dir, [KEY_A.recipient], [KEY_A.identity]), cleanup };
});

runReplicaClientConformance('age around file, three recipients, read with the last', async () => {
  const { dir, cleanup } = await tempDir();
  return { client: ageClient(dir, [KEY_A.recipient, KEY_B.recipient, KEY_C.recipient], [KEY_B.identity, KEY_C.identity]), cleanup };
});

describe('AgeReplicaClient', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(async () => cleanup());

  it('round-trips any bytes, and any range reads as the plaintext slice (property)', async () => {
    const root = join(dir, 'prop');
    const client = ageClient(root, [KEY_A.recipient], [KEY_A.identity]);
    let id = 0n;
    await fc.assert(
      fc.asyncProperty(
        // Pages of random bytes: with incompressible ones the files span several 64 KiB chunks.
        fc.integer({ min: 1, max: 60 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 4096 }),
        fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 6 }),
        async (pages, incompressible, chunkSize, ranges) => {
          id++;
          const bytes = await makeLtxFile({ minTxid: id, maxTxid: id, timestamp: T0, pages, pageSize: 4096, incompressible });
          const info = await client.writeLtxFile(0, id, id, chunked(bytes, chunkSize));
          assert.equal(info.size, bytes.length);
          assert.deepEqual(await collect(await client.openLtxFile(0, id, id)), bytes);
          const cuts = [0, AGE_CHUNK_SIZE - 1, AGE_CHUNK_SIZE, AGE_CHUNK_SIZE + 1, bytes.length - 1, bytes.length];
          for (const [a, b] of [...ranges, ...cuts.map((c) => [c, 1] as [number, number])]) {
            const offset = a % (bytes.length + 1);
            const size = b % (bytes.length - offset + 2);
            const want = size === 0 ? bytes.subarray(offset) : bytes.subarray(offset, offset + size);
            const got = await collect(await client.openLtxFile(0, id, id, { offset, size }));
            assert.ok(Buffer.from(got).equals(want), `offset ${offset} size ${size} of ${bytes.length}`);
          }
          const listed = await listAll(client.ltxFiles(0, id));
          assert.equal(listed[0]!.size, bytes.length);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('stores a public LTX header, then a standard age file that age itself decrypts', async () => {
    const root = join(dir, 'layout');
    const bytes = await makeLtxFile({ minTxid: 3n, maxTxid: 5n, timestamp: T0, pages: 30, pageSize: 4096, incompressible: true });
    await ageClient(root, [KEY_A.recipient, KEY_B.recipient], []).writeLtxFile(1, 3n, 5n, chunked(bytes));
    const stored = await readFile(ltxFilePath(root, 1, 3n, 5n));
    assert.equal(stored.length, storedSizeOf(bytes.length));
    const pub = decodeHeader(stored.subarray(0, HEADER_SIZE));
    validateHeader(pub);
    assert.deepEqual([pub.minTxid, pub.maxTxid, pub.timestamp, pub.commit, pub.pageSize], [3n, 5n, T0, 0, 4096]);
    assert.equal(stored.subarray(HEADER_SIZE, HEADER_SIZE + 22).toString('latin1'), 'age-encryption.org/v1\n');
    assert.match(stored.subarray(HEADER_SIZE, HEADER_SIZE + AGE_HEADER_SLOT_SIZE).toString('latin1'), /\n--- [A-Za-z0-9+/]{43}\n$/);
    for (const key of [KEY_A, KEY_B]) {
      const d = new Decrypter();
      d.addIdentity(key.identity);
      assert.deepEqual(await d.decrypt(new Uint8Array(stored.subarray(HEADER_SIZE))), bytes);
    }
    // The page-content bytes never appear in the clear.
    const probe = Buffer.from(bytes.subarray(HEADER_SIZE + 200, HEADER_SIZE + 232));
    assert.equal(stored.indexOf(probe), -1);
  });

  it('fits the most recipients it allows in the fixed header', async () => {
    const root = join(dir, 'many');
    const recipients = Array.from({ length: MAX_AGE_RECIPIENTS }, (_, i) => [KEY_A, KEY_B, KEY_C][i % 3]!.recipient);
    // Duplicates are distinct stanzas to age, so nine stanzas are written.
    const client = new AgeReplicaClient(new FileReplicaClient(root), { recipients, identities: [KEY_C.identity] }, 'replica many');
    const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0, pages: 3 });
    await client.writeLtxFile(0, 1n, 1n, chunked(bytes));
    assert.deepEqual(await collect(await client.openLtxFile(0, 1n, 1n, { offset: 7 })), bytes.subarray(7));
  });

  it('a wrong identity, no identities, no recipients: one error naming the replica, no key in it', async () => {
    const root = join(dir, 'keys');
    const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0, pages: 2 });
    await ageClient(root, [KEY_A.recipient], []).writeLtxFile(0, 1n, 1n, chunked(bytes));
    const noKey = (err: unknown, cls: typeof AgeReplicaError, re: RegExp): boolean => {
      assert.ok(err instanceof cls, String(err));
      assert.match(err.message, re);
      assert.ok(err.message.includes(`replica ${root}`), err.message);
      for (const k of [KEY_A, KEY_B]) {
        for (let e: unknown = err; e instanceof Error; e = e.cause) {
          assert.ok(!e.message.includes(k.identity) && !(e.stack ?? '').includes(k.identity), 'no identity in the error chain');
        }
      }
      return true;
    };
    await assert.rejects(ageClient(root, [], [KEY_B.identity]).openLtxFile(0, 1n, 1n), (e) => noKey(e, AgeDecryptError, /none of the configured age identities can decrypt/));
    await assert.rejects(ageClient(root, [KEY_A.recipient], []).openLtxFile(0, 1n, 1n), (e) => noKey(e, AgeReplicaError, /needs age identities/));
    await assert.rejects(ageClient(root, [], [KEY_A.identity]).writeLtxFile(0, 2n, 2n, chunked(bytes)), (e) => noKey(e, AgeReplicaError, /needs age recipients/));
    // Keys the library itself refuses (settings built by hand, past the config's checks): no key in the error or its causes.
    const typo = `${KEY_B.identity.slice(0, -1)}Q`;
    await assert.rejects(ageClient(root, [], [typo]).init(), (e) => {
      assert.ok(e instanceof Error && !e.message.includes(typo) && e.cause === undefined, String(e));
      return noKey(e, AgeReplicaError, /age identity 1 is not valid/);
    });
    // A plain file under an encrypted replica's name says so.
    await new FileReplicaClient(join(root, 'plain')).writeLtxFile(0, 1n, 1n, chunked(bytes));
    await assert.rejects(ageClient(join(root, 'plain'), [], [KEY_A.identity]).openLtxFile(0, 1n, 1n), /is not age-encrypted/);
  });

  it('detects a damaged or truncated object instead of returning bad bytes', async () => {
    const root = join(dir, 'damage');
    const client = ageClient(root, [KEY_A.recipient], [KEY_A.identity]);
    const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0, pages: 40, pageSize: 4096, incompressible: true });
    await client.writeLtxFile(0, 1n, 1n, chunked(bytes));
    const path = ltxFilePath(root, 0, 1n, 1n);
    const stored = await readFile(path);
    const flipped = Buffer.from(stored);
    flipped[stored.length - 100]! ^= 1;
    const cut = stored.subarray(0, stored.length - (stored.length % 65552) - 1);
    for (const [name, data] of [['flipped', flipped], ['truncated', cut]] as const) {
      const other = join(root, name);
      await new FileReplicaClient(other).init();
      const c = ageClient(other, [], [KEY_A.identity]);
      await (await import('node:fs/promises')).mkdir(join(other, 'ltx', '0'), { recursive: true });
      await (await import('node:fs/promises')).writeFile(ltxFilePath(other, 0, 1n, 1n), data);
      await assert.rejects(collect(await c.openLtxFile(0, 1n, 1n)), AgeDecryptError, name);
    }
    assert.ok((await readdir(join(root, 'ltx', '0'))).length === 1);
  });

  it('createReplicaClient wraps any backend when the options carry an age block', async () => {
    const root = join(dir, 'url');
    const client = createReplicaClient(root, { 'age.recipients': KEY_A.recipient, 'age.identities': KEY_A.identity });
    assert.ok(client instanceof AgeReplicaClient);
    assert.ok(!(createReplicaClient(root) instanceof AgeReplicaClient));
    assert.throws(() => createReplicaClient(root, { 'age.recipients': 'age1nope' }), /age recipient: "age1nope" is not an age X25519 recipient/);
  });
});
