import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReplicaFileNotFoundError, StorageError } from '../../src/storage/errors.js';
import type { LtxFileInfo, ReplicaClient } from '../../src/storage/replica-client.js';
import { chunked, collect, failingStream, listAll, makeLtxFile } from './ltx-fixtures.js';

export interface ConformanceTarget {
  client: ReplicaClient;
  cleanup(): Promise<void>;
}

/** A fixed, millisecond-precise moment, so timestamps that lose their milliseconds are caught. */
const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 678);
const TXID_2_63 = 1n << 63n;
const MAX_TXID = (1n << 64n) - 1n;

interface Written {
  level: number;
  minTxid: bigint;
  maxTxid: bigint;
  timestamp: number;
  bytes: Uint8Array;
}

function key(f: Pick<LtxFileInfo, 'level' | 'minTxid' | 'maxTxid'>): string {
  return `${f.level}:${f.minTxid}-${f.maxTxid}`;
}

function names(files: readonly LtxFileInfo[]): string[] {
  return files.map((f) => `${f.minTxid}-${f.maxTxid}`);
}

/**
 * The behaviour every ReplicaClient must show, whatever it stores files in.
 * `makeClient` gives each test a fresh, empty replica.
 */
export function runReplicaClientConformance(name: string, makeClient: () => Promise<ConformanceTarget>): void {
  describe(`ReplicaClient conformance: ${name}`, () => {
    let target: ConformanceTarget;
    let client: ReplicaClient;

    beforeEach(async () => {
      target = await makeClient();
      client = target.client;
      await client.init();
    });

    afterEach(async () => {
      await target.cleanup();
    });

    async function write(level: number, minTxid: bigint, maxTxid: bigint, timestamp = T0, pages = 2): Promise<Written> {
      const bytes = await makeLtxFile({ minTxid, maxTxid, timestamp, pages });
      const info = await client.writeLtxFile(level, minTxid, maxTxid, chunked(bytes, 97));
      assert.deepEqual(info, { level, minTxid, maxTxid, size: bytes.length, createdAt: new Date(timestamp) });
      return { level, minTxid, maxTxid, timestamp, bytes };
    }

    async function read(level: number, minTxid: bigint, maxTxid: bigint, offset?: number, size?: number): Promise<Uint8Array> {
      return collect(await client.openLtxFile(level, minTxid, maxTxid, { offset, size }));
    }

    it('round-trips files byte-exactly across levels and 64-bit TXID ranges', async () => {
      const files = [
        await write(0, 1n, 1n, T0),
        await write(0, 2n, 2n, T0 + 1001),
        await write(1, 1n, 2n, T0 + 2002),
        await write(3, 0x1234n, 0xabcdefn, T0 + 3003),
        await write(9, 1n, 0xabcdefn, T0 + 4004, 5),
        await write(0, TXID_2_63 - 1n, TXID_2_63 - 1n, T0 + 5005),
        await write(0, TXID_2_63, TXID_2_63 + 1n, T0 + 6006),
        await write(2, MAX_TXID - 1n, MAX_TXID, T0 + 7007),
      ];
      for (const f of files) {
        assert.deepEqual(await read(f.level, f.minTxid, f.maxTxid), f.bytes, key(f));
      }
      const listed = new Map<string, LtxFileInfo>();
      for (const level of [0, 1, 2, 3, 9]) {
        for (const info of await listAll(client.ltxFiles(level, 0n, { useMetadata: true }))) listed.set(key(info), info);
      }
      assert.equal(listed.size, files.length);
      for (const f of files) {
        assert.deepEqual(listed.get(key(f)), {
          level: f.level,
          minTxid: f.minTxid,
          maxTxid: f.maxTxid,
          size: f.bytes.length,
          createdAt: new Date(f.timestamp),
        });
      }
    });

    it('lists a level in (MinTXID, MaxTXID) order and filters by seek', async () => {
      for (const [min, max] of [[5n, 5n], [1n, 1n], [3n, 4n], [3n, 3n], [2n, 2n], [0x10n, 0x10n]] as const) {
        await write(0, min, max);
      }
      await write(1, 1n, 5n);
      assert.deepEqual(names(await listAll(client.ltxFiles(0))), ['1-1', '2-2', '3-3', '3-4', '5-5', '16-16']);
      assert.deepEqual(names(await listAll(client.ltxFiles(0, 3n))), ['3-3', '3-4', '5-5', '16-16']);
      assert.deepEqual(names(await listAll(client.ltxFiles(0, 4n))), ['5-5', '16-16']);
      assert.deepEqual(names(await listAll(client.ltxFiles(0, 17n))), []);
      assert.deepEqual(names(await listAll(client.ltxFiles(1))), ['1-5']);
      assert.deepEqual(await listAll(client.ltxFiles(2)), []);
      for (const f of await listAll(client.ltxFiles(0))) assert.equal(f.level, 0);
    });

    it('compares TXIDs as unsigned 64-bit numbers when sorting and seeking', async () => {
      const ids = [MAX_TXID - 1n, 1n, TXID_2_63, TXID_2_63 - 1n, 0xffn];
      for (const id of ids) await write(0, id, id);
      const sorted = [...ids].sort((a, b) => (a < b ? -1 : 1));
      assert.deepEqual(names(await listAll(client.ltxFiles(0))), sorted.map((id) => `${id}-${id}`));
      assert.deepEqual(names(await listAll(client.ltxFiles(0, TXID_2_63))), [
        `${TXID_2_63}-${TXID_2_63}`,
        `${MAX_TXID - 1n}-${MAX_TXID - 1n}`,
      ]);
    });

    it('reports the LTX header timestamp as createdAt when asked for metadata', async () => {
      const stamps = [T0, Date.UTC(2001, 8, 9, 1, 46, 40, 1), Date.UTC(2038, 0, 19, 3, 14, 8, 999), T0 + 123];
      for (let i = 0; i < stamps.length; i++) await write(0, BigInt(i + 1), BigInt(i + 1), stamps[i]);
      const listed = await listAll(client.ltxFiles(0, 0n, { useMetadata: true }));
      assert.deepEqual(
        listed.map((f) => f.createdAt.getTime()),
        stamps,
      );
    });

    it('reads byte ranges: offset only, offset and size, size to exactly the end, past the end', async () => {
      const big = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0, pages: 160, pageSize: 4096, incompressible: true });
      assert.ok(big.length > 600 * 1024, 'the file spans several read chunks');
      await client.writeLtxFile(9, 1n, 1n, chunked(big));
      const n = big.length;
      const cases: [number | undefined, number | undefined, Uint8Array][] = [
        [undefined, undefined, big],
        [0, 0, big],
        [100, undefined, big.subarray(100)],
        [300_000, 0, big.subarray(300_000)],
        [100, 50, big.subarray(100, 150)],
        [262_000, 1000, big.subarray(262_000, 263_000)],
        [0, 100, big.subarray(0, 100)],
        [n - 16, 16, big.subarray(n - 16)],
        [1000, n - 1000, big.subarray(1000)],
        [n - 10, 100, big.subarray(n - 10)],
        [n, undefined, new Uint8Array(0)],
      ];
      for (const [offset, size, want] of cases) {
        const got = await read(9, 1n, 1n, offset, size);
        assert.equal(got.length, want.length, `offset ${offset} size ${size}`);
        assert.ok(Buffer.from(got).equals(want), `offset ${offset} size ${size}`);
      }
    });

    it('can stop reading early and still delete or replace the file', async () => {
      const big = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0, pages: 100, pageSize: 4096, incompressible: true });
      await client.writeLtxFile(0, 1n, 1n, chunked(big));
      const stream = await client.openLtxFile(0, 1n, 1n);
      for await (const chunk of stream) {
        assert.ok(chunk.length > 0);
        break;
      }
      await client.openLtxFile(0, 1n, 1n);
      await write(0, 1n, 1n, T0 + 1);
      await client.deleteLtxFiles(await listAll(client.ltxFiles(0)));
      assert.deepEqual(await listAll(client.ltxFiles(0)), []);
    });

    it('rejects opening a missing file with ReplicaFileNotFoundError', async () => {
      await assert.rejects(client.openLtxFile(0, 1n, 1n), (err: unknown) => {
        assert.ok(err instanceof ReplicaFileNotFoundError);
        assert.equal(err.level, 0);
        assert.equal(err.minTxid, 1n);
        assert.equal(err.maxTxid, 1n);
        assert.match(err.message, /0000000000000001-0000000000000001\.ltx/);
        return true;
      });
      await write(0, 1n, 1n);
      await assert.rejects(client.openLtxFile(0, 1n, 2n), ReplicaFileNotFoundError);
      await assert.rejects(client.openLtxFile(1, 1n, 1n), ReplicaFileNotFoundError);
      await assert.rejects(client.openLtxFile(0, 2n, 2n, { offset: 10, size: 10 }), ReplicaFileNotFoundError);
    });

    it('deletes files, and deleting missing ones is not an error', async () => {
      const a = await write(0, 1n, 1n);
      await write(0, 2n, 2n);
      const c = await write(1, 1n, 2n);
      const info = (f: Written): LtxFileInfo => ({ level: f.level, minTxid: f.minTxid, maxTxid: f.maxTxid, size: 0, createdAt: new Date(0) });
      const ghost: LtxFileInfo = { level: 4, minTxid: 7n, maxTxid: 9n, size: 1, createdAt: new Date(0) };
      await client.deleteLtxFiles([info(a), ghost, info(c)]);
      assert.deepEqual(names(await listAll(client.ltxFiles(0))), ['2-2']);
      assert.deepEqual(await listAll(client.ltxFiles(1)), []);
      await assert.rejects(client.openLtxFile(0, 1n, 1n), ReplicaFileNotFoundError);
      await client.deleteLtxFiles([info(a), info(a), info(c)]);
      await client.deleteLtxFiles([]);
      assert.deepEqual(names(await listAll(client.ltxFiles(0))), ['2-2']);
    });

    it('deleteAll empties every level, and the replica stays usable', async () => {
      await client.deleteAll();
      for (const level of [0, 1, 9]) await write(level, 1n, 1n);
      await client.deleteAll();
      for (const level of [0, 1, 9]) assert.deepEqual(await listAll(client.ltxFiles(level)), []);
      await assert.rejects(client.openLtxFile(0, 1n, 1n), ReplicaFileNotFoundError);
      const again = await write(0, 1n, 1n);
      assert.deepEqual(await read(0, 1n, 1n), again.bytes);
      await client.deleteAll();
      await client.deleteAll();
      assert.deepEqual(await listAll(client.ltxFiles(0)), []);
    });

    it('writing the same file again replaces it', async () => {
      await write(0, 3n, 3n, T0, 2);
      const second = await write(0, 3n, 3n, T0 + 5000, 7);
      const listed = await listAll(client.ltxFiles(0, 0n, { useMetadata: true }));
      assert.deepEqual(listed, [{ level: 0, minTxid: 3n, maxTxid: 3n, size: second.bytes.length, createdAt: new Date(T0 + 5000) }]);
      assert.deepEqual(await read(0, 3n, 3n), second.bytes);
    });

    it('a write whose data fails midway leaves nothing behind', async () => {
      const bytes = await makeLtxFile({ minTxid: 4n, maxTxid: 4n, timestamp: T0, pages: 40, pageSize: 4096, incompressible: true });
      for (const failAt of [0, 50, 100, 5000, bytes.length - 1]) {
        const boom = new Error(`source failed at ${failAt}`);
        await assert.rejects(client.writeLtxFile(0, 4n, 4n, failingStream(bytes, failAt, boom)), (err: unknown) => {
          assert.ok(err === boom || (err instanceof Error && err.cause === boom), `failAt ${failAt}: ${String(err)}`);
          return true;
        });
        assert.deepEqual(await listAll(client.ltxFiles(0)), [], `failAt ${failAt}`);
        await assert.rejects(client.openLtxFile(0, 4n, 4n), ReplicaFileNotFoundError);
      }
      const ok = await write(0, 4n, 4n);
      assert.deepEqual(await read(0, 4n, 4n), ok.bytes);
    });

    it('a failed rewrite keeps the earlier file intact', async () => {
      const first = await write(0, 6n, 6n, T0, 3);
      const other = await makeLtxFile({ minTxid: 6n, maxTxid: 6n, timestamp: T0 + 1, pages: 9 });
      await assert.rejects(client.writeLtxFile(0, 6n, 6n, failingStream(other, 300, new Error('cut'))));
      assert.deepEqual(await read(0, 6n, 6n), first.bytes);
      const listed = await listAll(client.ltxFiles(0, 0n, { useMetadata: true }));
      assert.deepEqual(listed.map((f) => [f.size, f.createdAt.getTime()]), [[first.bytes.length, T0]]);
    });

    it('refuses data whose header does not match the TXIDs, or that is not LTX at all', async () => {
      const bytes = await makeLtxFile({ minTxid: 2n, maxTxid: 3n, timestamp: T0 });
      const refusals: [number, bigint, bigint, Uint8Array, RegExp][] = [
        [0, 2n, 2n, bytes, /TXIDs 0000000000000002-0000000000000003/],
        [1, 1n, 3n, bytes, /TXID/],
        [0, 3n, 3n, bytes, /TXID/],
        [0, 2n, 3n, new Uint8Array(bytes.length).fill(7), /LTX/],
        [0, 2n, 3n, bytes.subarray(0, 60), /LTX|short|header/],
        [0, 2n, 3n, new Uint8Array(0), /LTX|short|header/],
      ];
      for (const [level, min, max, data, re] of refusals) {
        await assert.rejects(client.writeLtxFile(level, min, max, chunked(data, 33)), (err: unknown) => {
          assert.ok(err instanceof StorageError, String(err));
          assert.match(err.message, re);
          return true;
        });
      }
      for (const level of [0, 1]) assert.deepEqual(await listAll(client.ltxFiles(level)), []);
    });

    it('handles concurrent writes of different files', async () => {
      const specs: [number, bigint, bigint][] = [];
      for (let i = 1; i <= 24; i++) specs.push([i % 3 === 0 ? 9 : i % 2, BigInt(i), BigInt(i)]);
      const files = await Promise.all(
        specs.map(async ([level, min, max]) => {
          const bytes = await makeLtxFile({ minTxid: min, maxTxid: max, timestamp: T0 + Number(min), pages: 1 + (Number(min) % 5) });
          await client.writeLtxFile(level, min, max, chunked(bytes, 128));
          return { level, min, max, bytes };
        }),
      );
      for (const f of files) assert.deepEqual(await read(f.level, f.min, f.max), f.bytes);
      const counts = await Promise.all([0, 1, 9].map(async (level) => (await listAll(client.ltxFiles(level))).length));
      assert.deepEqual(counts, [8, 8, 8]);
    });

    it('concurrent writes of the same file leave one of them whole', async () => {
      const versions = await Promise.all([1, 2, 3, 4].map((v) => makeLtxFile({ minTxid: 8n, maxTxid: 8n, timestamp: T0 + v, pages: v * 3 })));
      await Promise.all(versions.map((b) => client.writeLtxFile(0, 8n, 8n, chunked(b, 200))));
      const got = await read(0, 8n, 8n);
      assert.ok(versions.some((b) => Buffer.from(b).equals(got)), 'the stored file is exactly one of the writes');
      const listed = await listAll(client.ltxFiles(0, 0n, { useMetadata: true }));
      assert.equal(listed.length, 1);
      assert.equal(listed[0]!.size, got.length);
    });

    it('a write aborted through its signal leaves nothing behind', async () => {
      const bytes = await makeLtxFile({ minTxid: 2n, maxTxid: 2n, timestamp: T0, pages: 30, pageSize: 4096, incompressible: true });
      const ac = new AbortController();
      async function* abortingMidway(): AsyncGenerator<Uint8Array> {
        let sent = 0;
        for await (const c of chunked(bytes, 4096)) {
          if (sent > 20_000) ac.abort();
          sent += c.length;
          yield c;
        }
      }
      await assert.rejects(client.writeLtxFile(0, 2n, 2n, abortingMidway(), ac.signal), { name: 'AbortError' });
      assert.deepEqual(await listAll(client.ltxFiles(0)), []);
      await assert.rejects(client.writeLtxFile(0, 2n, 2n, chunked(bytes), AbortSignal.abort()), { name: 'AbortError' });
      assert.deepEqual(await listAll(client.ltxFiles(0)), []);
    });

    it('rejects levels and TXIDs that cannot name a file', async () => {
      const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0 });
      await assert.rejects(client.writeLtxFile(-1, 1n, 1n, chunked(bytes)), StorageError);
      await assert.rejects(client.writeLtxFile(1.5, 1n, 1n, chunked(bytes)), StorageError);
      await assert.rejects(client.openLtxFile(0, -1n, 1n), StorageError);
      await assert.rejects(client.openLtxFile(0, 1n, 1n << 64n), StorageError);
      await assert.rejects(client.openLtxFile(0, 1n, 1n, { offset: -1 }), StorageError);
      await assert.rejects(listAll(client.ltxFiles(Number.NaN)), StorageError);
    });
  });
}
