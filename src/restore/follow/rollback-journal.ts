/**
 * SQLite's rollback journal (https://www.sqlite.org/fileformat2.html,
 * "The Rollback Journal"), written by hand because nothing else can write
 * one: a follower changes the database file's pages itself, and a journal of
 * the pages' old contents beside it makes the change all or nothing. If the
 * follower dies midway, the next connection that opens the database finds the
 * journal "hot" and plays it back, as it would after a crash of SQLite itself.
 *
 * Layout, all integers big-endian:
 *   header (padded to the sector size): magic d9d505f920a163d7, record count,
 *     checksum nonce, database size in pages before the change, sector size,
 *     page size;
 *   one record per page saved: page number, the page's old bytes, checksum
 *   (the nonce plus every 200th byte of the page, from pageSize-200 down).
 */

const JOURNAL_MAGIC = Uint8Array.of(0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7);
/** The sector size SQLite's unix VFS reports for ordinary files. */
export const JOURNAL_SECTOR_SIZE = 512;
/** Offset of a checksum's first byte from the end of the page, and its stride. */
const CHECKSUM_STRIDE = 200;

/** The journal's header, padded to the sector size. */
export function encodeJournalHeader(h: { records: number; nonce: number; pageCount: number; pageSize: number }): Uint8Array {
  const out = new Uint8Array(JOURNAL_SECTOR_SIZE);
  const v = new DataView(out.buffer);
  out.set(JOURNAL_MAGIC, 0);
  v.setUint32(8, h.records);
  v.setUint32(12, h.nonce >>> 0);
  v.setUint32(16, h.pageCount);
  v.setUint32(20, JOURNAL_SECTOR_SIZE);
  v.setUint32(24, h.pageSize);
  return out;
}

/** SQLite's journal record checksum of a page. */
export function journalChecksum(nonce: number, page: Uint8Array): number {
  let sum = nonce >>> 0;
  for (let i = page.length - CHECKSUM_STRIDE; i > 0; i -= CHECKSUM_STRIDE) sum = (sum + page[i]!) >>> 0;
  return sum;
}

/** One record: the page number, the page's bytes before the change, the checksum. */
export function encodeJournalRecord(pgno: number, oldPage: Uint8Array, nonce: number): Uint8Array {
  const out = new Uint8Array(4 + oldPage.length + 4);
  const v = new DataView(out.buffer);
  v.setUint32(0, pgno);
  out.set(oldPage, 4);
  v.setUint32(4 + oldPage.length, journalChecksum(nonce, oldPage));
  return out;
}
