import { HEADER_SIZE } from '../../ltx/constants.js';
import { formatFilename } from '../../ltx/file-name.js';
import { decodePageData, readPageIndex, type LtxPageIndex, type RandomAccessFile } from '../../ltx/random-access.js';
import type { LtxFileInfo, ReplicaClient } from '../../storage/replica-client.js';
import { RestoreError } from '../errors.js';
import type { RestorePlan, RestorePlanGap } from '../plan.js';
import { PageCache } from './page-cache.js';

/** What time travel read and fetched so far; `pageReads - cacheHits` pages were decoded from the replica. */
export interface TimeTravelStats {
  /** Pages SQLite asked for. */
  pageReads: number;
  /** Of those, pages served from the cache. */
  cacheHits: number;
  /** Pages fetched from the replica and decoded (read-ahead included). */
  pagesFetched: number;
  /** Range reads made on the replica: page indexes, headers and pages. */
  requests: number;
  /** Bytes those range reads returned. */
  bytesFetched: number;
  /** Pages in the cache now, and their bytes. */
  cachedPages: number;
  cachedBytes: number;
}

/** A replica file read with one range request per `readAt`. */
class ReplicaRangeFile implements RandomAccessFile {
  readonly size: number;

  constructor(
    private readonly client: ReplicaClient,
    readonly info: LtxFileInfo,
    private readonly counters: { requests: number; bytesFetched: number },
  ) {
    this.size = info.size;
  }

  async readAt(offset: number, length: number): Promise<Uint8Array> {
    const { level, minTxid, maxTxid } = this.info;
    this.counters.requests++;
    const chunks: Uint8Array[] = [];
    let got = 0;
    for await (const chunk of await this.client.openLtxFile(level, minTxid, maxTxid, { offset, size: length })) {
      chunks.push(chunk);
      got += chunk.length;
    }
    this.counters.bytesFetched += got;
    if (got !== length) {
      throw new RestoreError(
        `level ${level} ${formatFilename(minTxid, maxTxid)}: asked for ${length} bytes at offset ${offset}, the replica returned ${got}`,
      );
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }
}

/** One LTX file of a plan, with its page index. */
interface IndexedFile {
  /** Small number unique to this file within a ReplicaPages, part of its pages' cache keys. */
  id: number;
  file: ReplicaRangeFile;
  map: LtxPageIndex;
}

/** The database at one TXID: which file holds the newest copy of each page. */
export interface DatabaseView {
  readonly txid: bigint;
  readonly pageSize: number;
  readonly pageCount: number;
  /** When the newest file of the view was created. */
  readonly createdAt: Date;
  /** Set when a timestamp plan stopped at a break in the chain of files. */
  readonly gap: RestorePlanGap | undefined;
  readonly files: readonly LtxFileInfo[];
  /** Index into `indexed` by page number; -1 for a page no file holds (read as zeros). */
  readonly owner: Int32Array;
  /** By page number: the entry of the page in its owner's page index. */
  readonly slot: Int32Array;
  readonly indexed: readonly IndexedFile[];
}

const PAGE_KEY_SPACE = 2 ** 32;
/** Page indexes fetched at once when a view is built. */
const INDEX_FETCH_PARALLELISM = 8;

function fileKey(f: LtxFileInfo): string {
  return `${f.level}/${formatFilename(f.minTxid, f.maxTxid)}`;
}

/**
 * Pages of a replica's database at any TXID, fetched on demand by byte range
 * through each LTX file's page index and kept in a bounded LRU cache. Views
 * of different TXIDs share page indexes and cached pages of the files they
 * have in common.
 */
export class ReplicaPages {
  readonly #client: ReplicaClient;
  readonly #cache: PageCache<number>;
  readonly #readAheadPages: number;
  readonly #cacheBytes: number;
  readonly #indexes = new Map<string, IndexedFile>();
  readonly #counters = { pageReads: 0, cacheHits: 0, pagesFetched: 0, requests: 0, bytesFetched: 0 };
  #nextId = 0;
  /** Last page fetched, to spot sequential reads for read-ahead. */
  #lastFetched = -1;
  #window = 1;

  constructor(client: ReplicaClient, opts: { cacheBytes: number; readAheadPages: number }) {
    this.#client = client;
    this.#cache = new PageCache(opts.cacheBytes);
    this.#cacheBytes = opts.cacheBytes;
    this.#readAheadPages = Math.max(0, Math.floor(opts.readAheadPages));
  }

  /** Builds the view of a restore plan, fetching the page index of each file not seen before. */
  async view(plan: RestorePlan): Promise<DatabaseView> {
    const indexed: IndexedFile[] = new Array(plan.files.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < plan.files.length) {
        const i = next++;
        const info = plan.files[i]!;
        const key = fileKey(info);
        let entry = this.#indexes.get(key);
        if (entry === undefined || entry.file.size !== info.size) {
          const file = new ReplicaRangeFile(this.#client, info, this.#counters);
          const map = await readPageIndex(file, { file: key });
          entry = { id: this.#nextId++, file, map };
          this.#indexes.set(key, entry);
        }
        indexed[i] = entry;
      }
    };
    // Page indexes are independent: fetch several at once, as restore fetches files.
    await Promise.all(Array.from({ length: Math.min(INDEX_FETCH_PARALLELISM, plan.files.length) }, worker));
    const last = indexed[indexed.length - 1]!;
    const pageSize = last.map.header.pageSize;
    const pageCount = last.map.header.commit;
    for (const f of indexed) {
      if (f.map.header.pageSize !== pageSize) {
        throw new RestoreError(`${fileKey(f.file.info)} has ${f.map.header.pageSize}-byte pages, the newest file ${pageSize}-byte pages`);
      }
    }
    // Newest file wins; pages above the final commit were truncated away.
    const owner = new Int32Array(pageCount + 1).fill(-1);
    const slot = new Int32Array(pageCount + 1);
    indexed.forEach((f, i) => {
      const { count, pgnos } = f.map.index;
      for (let k = 0; k < count; k++) {
        const pgno = pgnos[k]!;
        if (pgno > pageCount) continue;
        owner[pgno] = i;
        slot[pgno] = k;
      }
    });
    this.#forgetUnused(indexed);
    return {
      txid: plan.txid,
      pageSize,
      pageCount,
      createdAt: last.file.info.createdAt,
      gap: plan.gap,
      files: plan.files,
      owner,
      slot,
      indexed,
    };
  }

  /**
   * The page as the view's database holds it. With read-ahead on, a miss that
   * follows the previous one fetches the pages after it that sit next to it in
   * the same file in the same request, doubling the run up to the limit (and
   * to half the cache).
   */
  async readPage(view: DatabaseView, pgno: number): Promise<Uint8Array> {
    this.#counters.pageReads++;
    const at = pgno <= view.pageCount ? view.owner[pgno]! : -1;
    if (at < 0) return new Uint8Array(view.pageSize);
    const f = view.indexed[at]!;
    const key = f.id * PAGE_KEY_SPACE + pgno;
    const cached = this.#cache.get(key);
    if (cached !== undefined) {
      this.#counters.cacheHits++;
      return cached;
    }
    // A run larger than half the cache would evict its own pages before SQLite reads them.
    const limit = Math.max(1, Math.min(this.#readAheadPages, Math.floor(this.#cacheBytes / view.pageSize / 2)));
    this.#window = pgno === this.#lastFetched + 1 ? Math.min(this.#window * 2, limit) : 1;
    const { pgnos, offsets, sizes } = f.map.index;
    const k0 = view.slot[pgno]!;
    const start = offsets[k0]!;
    let end = start + sizes[k0]!;
    let k = k0;
    // Entries are in page order: the next page of the file, if it is there, is the next entry.
    while (k - k0 + 1 < this.#window) {
      const next = pgnos[k + 1];
      if (next !== pgnos[k]! + 1 || offsets[k + 1] !== end || view.owner[next] !== at || this.#cache.get(f.id * PAGE_KEY_SPACE + next) !== undefined) break;
      k++;
      end += sizes[k]!;
    }
    if (start < HEADER_SIZE || end > f.file.size) {
      throw new RestoreError(`${fileKey(f.file.info)}: page index entry for page ${pgnos[k]} points outside the page block`);
    }
    const bytes = await f.file.readAt(start, end - start);
    let page: Uint8Array | undefined;
    for (let e = k0; e <= k; e++) {
      const from = offsets[e]! - start;
      const data = await decodePageData(bytes.subarray(from, from + sizes[e]!), view.pageSize, {
        file: fileKey(f.file.info),
        pgno: pgnos[e]!,
        base: offsets[e]!,
      });
      this.#counters.pagesFetched++;
      this.#cache.set(f.id * PAGE_KEY_SPACE + pgnos[e]!, data);
      if (e === k0) page = data;
    }
    this.#lastFetched = pgnos[k]!;
    return page!;
  }

  stats(): TimeTravelStats {
    return { ...this.#counters, cachedPages: this.#cache.size, cachedBytes: this.#cache.bytes };
  }

  /** Drops page indexes of files the current view no longer uses (their cached pages age out of the LRU). */
  #forgetUnused(inUse: readonly IndexedFile[]): void {
    const keep = new Set(inUse);
    for (const [key, f] of this.#indexes) if (!keep.has(f)) this.#indexes.delete(key);
  }
}
