import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SegmentPrefetcher } from '../../../src/restore/v03/segment-prefetch.js';
import { restore } from '../../../src/restore/restore.js';
import { FileReplicaClient } from '../../../src/storage/file-replica-client.js';
import type { RawObjectOpenOptions } from '../../../src/storage/raw-object-reader.js';
import { V03ObjectNotFoundError } from '../../../src/storage/v03-replica-client.js';
import { collect, V03_EXPECTED_DB, V03_FIXTURE_GENERATION, V03_FIXTURE_REPLICA, withTempDir } from './helpers.js';
import { toV03Reader } from '../../../src/storage/v03-reader.js';

const GEN = V03_FIXTURE_GENERATION;

/** The real directory client, counting segment reads in flight; each read takes a few event-loop turns longer. */
class CountingClient extends FileReplicaClient {
  inFlight = 0;
  maxInFlight = 0;
  opened: string[] = [];

  override async openRawObject(key: string, opts?: RawObjectOpenOptions): Promise<AsyncIterable<Uint8Array>> {
    const segment = /\/wal\/([0-9a-f]{8})_([0-9a-f]{8,16})\.wal\.lz4$/.exec(key);
    if (segment === null) return super.openRawObject(key, opts);
    this.opened.push(`${parseInt(segment[1]!, 16)}/${parseInt(segment[2]!, 16)}`);
    return counted(this, await super.openRawObject(key, opts));
  }
}

async function* counted(counter: CountingClient, inner: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  counter.inFlight++;
  counter.maxInFlight = Math.max(counter.maxInFlight, counter.inFlight);
  try {
    await new Promise((r) => setTimeout(r, 5));
    yield* inner;
  } finally {
    counter.inFlight--;
  }
}

describe('SegmentPrefetcher', () => {
  it('hands out every segment in order, fetching up to `parallelism` at once', async () => {
    const client = new CountingClient(V03_FIXTURE_REPLICA);
    const segments = await toV03Reader(client).v03WalSegments(GEN);
    const p = new SegmentPrefetcher(client, GEN, segments, 4, 1 << 20, undefined);
    try {
      for (const [i, s] of segments.entries()) {
        const got = await collect(await p.open(i));
        const want = await collect(await toV03Reader(new FileReplicaClient(V03_FIXTURE_REPLICA)).openV03WalSegment(GEN, s.index, s.offset));
        assert.ok(got.equals(want), `segment ${i}`);
        // Let the fetches started ahead run while "applying".
        await new Promise((r) => setTimeout(r, 1));
      }
    } finally {
      await p.close();
    }
    assert.equal(client.opened.length, segments.length);
    assert.ok(client.maxInFlight > 1, `at most ${client.maxInFlight} in flight`);
    assert.ok(client.maxInFlight <= 4, `${client.maxInFlight} in flight`);
  });

  it('fetches nothing ahead with parallelism 1, or when segments exceed their share of the budget', async () => {
    for (const [parallelism, budget] of [
      [1, 1 << 20],
      [4, 300],
    ] as const) {
      const client = new CountingClient(V03_FIXTURE_REPLICA);
      const segments = await toV03Reader(client).v03WalSegments(GEN);
      const p = new SegmentPrefetcher(client, GEN, segments, parallelism, budget, undefined);
      try {
        for (let i = 0; i < segments.length; i++) await collect(await p.open(i));
      } finally {
        await p.close();
      }
      assert.equal(client.maxInFlight, 1, `parallelism ${parallelism}, budget ${budget}`);
    }
  });

  it('reports a failed fetch when its segment is opened, not before', async () => {
    const client = new FileReplicaClient(V03_FIXTURE_REPLICA);
    const segments = await toV03Reader(client).v03WalSegments(GEN);
    const ghost = { ...segments[2]!, offset: 0x9999 };
    const list = [segments[0]!, segments[1]!, ghost];
    const p = new SegmentPrefetcher(client, GEN, list, 8, 1 << 20, undefined);
    try {
      await collect(await p.open(0));
      await collect(await p.open(1));
      await assert.rejects(p.open(2), V03ObjectNotFoundError);
    } finally {
      await p.close();
    }
  });

  it('restores the same bytes whatever the parallelism', async () => {
    await withTempDir('v03-prefetch', async (dir) => {
      const expected = await readFile(V03_EXPECTED_DB);
      for (const parallelism of [1, 2, 8]) {
        const client = new CountingClient(V03_FIXTURE_REPLICA);
        const out = join(dir, `p${parallelism}.db`);
        await restore({ client, outputPath: out, parallelism });
        assert.ok((await readFile(out)).equals(expected), `parallelism ${parallelism}`);
        assert.ok(client.maxInFlight <= parallelism);
        assert.equal(client.inFlight, 0);
      }
    });
  });
});
