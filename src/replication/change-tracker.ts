import { open } from 'node:fs/promises';
import { isErrno } from '../io/durable-fs.js';
import { sameSalts, walFrameSize, WAL_HEADER_SIZE, type WalSalts } from '../sqlite/wal-header.js';
import type { WalIndexHeader, WalIndexHeaderReader } from '../sqlite/wal-index-header.js';
import { readWalFrameHeader, type WalFrameHeader } from '../sqlite/wal-reader.js';
import type { GenerationView } from './database-state.js';
import { WalChangedError } from './errors.js';
import { NO_WAL_POSITION, readWalChanges, type WalPosition } from './wal-follower.js';

/**
 * What changed in the database since the last L0 file, as read from the
 * WAL: page numbers only. Their content is read when the next file is
 * written, from the database as it stands then (the current generation's
 * newest frames, else the database file), so pages a generation wrote
 * before the WAL restarted are found in the database file, where the
 * checkpoint before the restart put them.
 */
export class ChangeTracker {
  /** How far the WAL has been read. */
  pos: WalPosition = NO_WAL_POSITION;
  /** Database size in pages at `pos`. */
  commit = 0;
  /** The WAL index's commit counter as of `pos`; undefined when not known (no index, or not read yet). */
  lastIChange: number | undefined;
  /** Frames read by the last call to track(). */
  framesRead = 0;
  /** Pages changed since the last published file. */
  readonly pending = new Set<number>();
  /** Database size after the newest commit read since the last published file. */
  pendingCommit: number | undefined;
  /** Where the WAL stood when the last file was published. */
  #publishedPos: WalPosition = NO_WAL_POSITION;
  /** The current generation: page number → offset of its newest frame read. */
  #genMap = new Map<number, number>();

  constructor(
    private readonly walPath: string,
    private readonly pageSize: number,
  ) {}

  /** True when there is something to publish. */
  get hasPending(): boolean {
    return this.pending.size > 0 || this.pendingCommit !== undefined;
  }

  /**
   * Reads the WAL after `pos` and records the pages committed there. Returns
   * null, or why commits may have gone unread (then only a comparison of the
   * whole database can tell what changed; nothing is recorded). Without an
   * index nothing is counted, and a deleted WAL counts as a loss: the caller
   * held a pin, so the WAL could only have gone if a lock was lost.
   */
  async track(index: WalIndexHeader | null): Promise<string | null> {
    const read = await readWalChanges(this.walPath, this.pageSize, this.pos, index, this.lastIChange);
    if (!read.ok) return read.reason;
    const c = read.changes;
    if (index === null && c.deleted && c.restarted) return 'the WAL was deleted while the database was pinned (a lock on the database file was lost)';
    let frames = 0;
    if (c.restarted) this.#genMap = new Map();
    if (c.tail !== null) {
      for (const pgno of c.tail.pages.keys()) this.pending.add(pgno);
      frames += c.tail.frames;
      if (c.tail.commits > 0) this.commit = this.pendingCommit = c.tail.commit;
    }
    if (c.current !== null) {
      for (const [pgno, offset] of c.current.pages) {
        this.pending.add(pgno);
        this.#genMap.set(pgno, offset);
      }
      frames += c.current.frames;
      if (c.current.commits > 0) this.commit = this.pendingCommit = c.current.commit;
    }
    this.pos = c.next;
    if (index !== null) this.lastIChange = index.iChange;
    this.framesRead = frames;
    return null;
  }

  /**
   * The pinned path: page numbers straight from the WAL index for the frames
   * committed since `pos`, without reading the frames (their content is read
   * when the file is published). Only valid while the database has been
   * pinned since `pos` was reached: then no frame after it can have been
   * overwritten, and a generation seen to restart had been read to its end.
   * Returns the reason when the index and the WAL disagree.
   */
  async trackFromIndex(index: WalIndexHeader, reader: WalIndexHeaderReader): Promise<string | null> {
    const frameSize = walFrameSize(this.pageSize);
    const same = this.pos.salts !== null && sameSalts(index, this.pos.salts);
    const from = same ? (this.pos.offset - WAL_HEADER_SIZE) / frameSize + 1 : 1;
    if (index.mxFrame < from - 1) return `the WAL index holds ${index.mxFrame} frames, fewer than the ${from - 1} already read`;
    if (!same) this.#genMap = new Map();
    this.framesRead = 0;
    if (index.mxFrame < from) {
      if (!same) this.pos = index.mxFrame === 0 ? NO_WAL_POSITION : this.pos;
      return null;
    }
    const pgnos = await reader.pageNumbers(from, index.mxFrame);
    // The last frame's header carries the running checksum there, for reading on from it later.
    const last = await readLastFrameHeader(this.walPath, WAL_HEADER_SIZE + (index.mxFrame - 1) * frameSize);
    if (last === null || last.pgno !== pgnos[pgnos.length - 1] || !sameSalts(last, index)) {
      return 'the WAL does not hold the frames the WAL index names';
    }
    for (let i = 0; i < pgnos.length; i++) {
      const pgno = pgnos[i]!;
      this.pending.add(pgno);
      this.#genMap.set(pgno, WAL_HEADER_SIZE + (from - 1 + i) * frameSize);
    }
    this.commit = this.pendingCommit = index.nPage;
    this.pos = { salts: { salt1: index.salt1, salt2: index.salt2 }, offset: WAL_HEADER_SIZE + index.mxFrame * frameSize, checksum: last.checksum };
    this.lastIChange = index.iChange;
    this.framesRead = pgnos.length;
    return null;
  }

  /**
   * Starts over from the WAL's current generation, read from its first frame
   * (up to what the index calls committed): for comparing the whole database
   * with what was published. Throws WalChangedError when the WAL moves under
   * the read; `fileSize` gives the database size when the WAL holds nothing.
   */
  async rebase(index: WalIndexHeader | null, fileSizePages: () => Promise<number>): Promise<void> {
    const read = await readWalChanges(this.walPath, this.pageSize, NO_WAL_POSITION, index, undefined);
    if (!read.ok) throw new WalChangedError(`${this.walPath}: ${read.reason}; it is read again`);
    const current = read.changes.current;
    this.#genMap = new Map(current?.pages ?? []);
    this.commit = current !== null && current.commits > 0 ? current.commit : await fileSizePages();
    this.pos = read.changes.next;
    this.lastIChange = index?.iChange;
    this.pending.clear();
    this.pendingCommit = undefined;
    // A file published from here stands for the whole generation read.
    this.#publishedPos = { ...this.pos, offset: WAL_HEADER_SIZE };
    this.framesRead = 0;
  }

  /**
   * The database at `pos`, for reading pages. `copy` takes a copy of the
   * page map, for a reader that runs while tracking goes on.
   */
  view(copy = false): GenerationView {
    return { salts: this.pos.salts, pages: copy ? new Map(this.#genMap) : this.#genMap, commit: this.commit };
  }

  /** The WAL stretch a file published now stands for, for its header (Litestream reads it to resume). */
  walRange(): { walOffset: number; walSize: number; salts: WalSalts } {
    const salts = this.pos.salts;
    if (salts === null) return { walOffset: WAL_HEADER_SIZE, walSize: 0, salts: { salt1: 0, salt2: 0 } };
    const from = this.#publishedPos.salts !== null && sameSalts(this.#publishedPos.salts, salts) ? this.#publishedPos.offset : WAL_HEADER_SIZE;
    return { walOffset: from, walSize: this.pos.offset - from, salts };
  }

  /** Everything pending was published. */
  published(): void {
    this.pending.clear();
    this.pendingCommit = undefined;
    this.#publishedPos = this.pos;
  }
}

async function readLastFrameHeader(walPath: string, offset: number): Promise<WalFrameHeader | null> {
  let fh;
  try {
    fh = await open(walPath, 'r');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
  try {
    return await readWalFrameHeader(fh, offset);
  } finally {
    await fh.close();
  }
}
