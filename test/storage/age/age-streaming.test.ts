import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgeReplicaClient } from '../../../src/storage/age/age-replica-client.js';
import { AGE_CHUNK_SIZE, AGE_PAYLOAD_OFFSET, AGE_SEALED_CHUNK_SIZE } from '../../../src/storage/age/age-object-layout.js';
import { FileReplicaClient } from '../../../src/storage/file-replica-client.js';
import type { LtxFileInfo, OpenOptions } from '../../../src/storage/replica-client.js';
import { chunked, collect, makeLtxFile } from '../ltx-fixtures.js';
import { KEY_A } from './age-test-keys.js';

const T0 = Date.UTC(2025, 6, 1, 0, 0, 0, 1);
/** How far the encrypting writer may read ahead of what the backend has taken: a few STREAM chunks. */
const MAX_READ_AHEAD = 512 * 1024;

/** A directory replica that records what the wrapper asks of it. */
class RecordingFileClient extends FileReplicaClient {
  opens: { offset: number; size: number }[] = [];
  consumed = 0;

  override async openLtxFile(level: number, minTxid: bigint, maxTxid: bigint, opts: OpenOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    this.opens.push({ offset: opts.offset ?? 0, size: opts.size ?? 0 });
    return super.openLtxFile(level, minTxid, maxTxid, opts);
  }

  override async writeLtxFile(level: number, minTxid: bigint, maxTxid: bigint, data: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<LtxFileInfo> {
    const count = (n: number): void => {
      this.consumed += n;
    };
    async function* counting(): AsyncGenerator<Uint8Array> {
      for await (const c of data) {
        count(c.length);
        yield c;
      }
    }
    return super.writeLtxFile(level, minTxid, maxTxid, counting(), signal);
  }
}

describe('AgeReplicaClient streaming', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tidemark-age-stream-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('encrypts as the data comes: the source is never read far ahead of the backend', async () => {
    const inner = new RecordingFileClient(join(dir, 'ahead'));
    const client = new AgeReplicaClient(inner, { recipients: [KEY_A.recipient], identities: [KEY_A.identity] }, 'replica ahead');
    const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0, pages: 1500, pageSize: 4096, incompressible: true });
    let produced = 0;
    let worst = 0;
    async function* source(): AsyncGenerator<Uint8Array> {
      for await (const c of chunked(bytes, 16 * 1024)) {
        worst = Math.max(worst, produced - inner.consumed);
        produced += c.length;
        yield c;
      }
    }
    const info = await client.writeLtxFile(9, 1n, 1n, source());
    assert.equal(info.size, bytes.length);
    assert.ok(bytes.length > 5 * 1024 * 1024);
    assert.ok(worst <= MAX_READ_AHEAD, `read ${worst} bytes ahead of the backend`);
    assert.deepEqual(await collect(await client.openLtxFile(9, 1n, 1n)), bytes);
  });

  it('a backend that fails before reading the upload still stops the source', async () => {
    class Refusing extends FileReplicaClient {
      override async writeLtxFile(): Promise<LtxFileInfo> {
        throw new Error('refused before reading');
      }
    }
    const client = new AgeReplicaClient(new Refusing(join(dir, 'refusing')), { recipients: [KEY_A.recipient], identities: [] }, 'replica refusing');
    const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0, pages: 40, pageSize: 4096, incompressible: true });
    let stopped = false;
    async function* source(): AsyncGenerator<Uint8Array> {
      try {
        yield* chunked(bytes, 4096);
      } finally {
        stopped = true;
      }
    }
    await assert.rejects(client.writeLtxFile(0, 1n, 1n, source()), /refused before reading/);
    assert.ok(stopped, 'the source was stopped');
  });

  it('a ranged read fetches the header and only the chunks that hold the range', async () => {
    const inner = new RecordingFileClient(join(dir, 'ranges'));
    const client = new AgeReplicaClient(inner, { recipients: [KEY_A.recipient], identities: [KEY_A.identity] }, 'replica ranges');
    const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0, pages: 300, pageSize: 4096, incompressible: true });
    await client.writeLtxFile(9, 1n, 1n, chunked(bytes));

    inner.opens = [];
    const offset = 5 * AGE_CHUNK_SIZE + 100;
    const got = await collect(await client.openLtxFile(9, 1n, 1n, { offset, size: AGE_CHUNK_SIZE }));
    assert.deepEqual(got, bytes.subarray(offset, offset + AGE_CHUNK_SIZE));
    assert.deepEqual(inner.opens, [
      { offset: 0, size: AGE_PAYLOAD_OFFSET },
      { offset: AGE_PAYLOAD_OFFSET + 5 * AGE_SEALED_CHUNK_SIZE, size: 2 * AGE_SEALED_CHUNK_SIZE },
    ]);

    inner.opens = [];
    const head = await collect(await client.openLtxFile(9, 1n, 1n, { offset: 10, size: 100 }));
    assert.deepEqual(head, bytes.subarray(10, 110));
    assert.deepEqual(inner.opens, [{ offset: 0, size: AGE_PAYLOAD_OFFSET + AGE_SEALED_CHUNK_SIZE }], 'one request for a range in the first chunk');

    inner.opens = [];
    const tail = await collect(await client.openLtxFile(9, 1n, 1n, { offset: bytes.length - 20 }));
    assert.deepEqual(tail, bytes.subarray(bytes.length - 20));
    const lastChunk = Math.floor((bytes.length - 20) / AGE_CHUNK_SIZE);
    assert.deepEqual(inner.opens, [
      { offset: 0, size: AGE_PAYLOAD_OFFSET },
      { offset: AGE_PAYLOAD_OFFSET + lastChunk * AGE_SEALED_CHUNK_SIZE, size: 0 },
    ]);
  });
});
