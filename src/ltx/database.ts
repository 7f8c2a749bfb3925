import type { ByteSource } from './byte-source.js';
import type { ByteSink } from './byte-sink.js';
import { LtxDecoder, type DecodedPage } from './decoder.js';
import { LtxContentError } from './errors.js';
import { LtxMerger, type LtxInput, type MergeOptions } from './compactor.js';
import { isSnapshot, type LtxHeader } from './header.js';
import { lockPgno } from './constants.js';

export interface DecodeDatabaseResult {
  header: LtxHeader;
  /** Bytes written: commit × page size. */
  size: number;
  postApplyChecksum: bigint;
}

/**
 * Writes pages 1..commit of a full image to the sink, zero-filling the lock
 * page. The pages must be exactly 1..commit without the lock page, in order.
 */
async function writeDatabase(
  header: LtxHeader,
  pages: AsyncIterable<DecodedPage>,
  sink: ByteSink,
  file: string | undefined,
): Promise<number> {
  if (!isSnapshot(header)) {
    throw new LtxContentError(
      `cannot build a database from a file that starts at TXID ${header.minTxid}: a full image starts at TXID 1`,
      file === undefined ? {} : { file },
    );
  }
  const lock = lockPgno(header.pageSize);
  let expect = 1;
  let written = 0;
  const zeros = new Uint8Array(header.pageSize);
  for await (const p of pages) {
    if (expect === lock) {
      await sink.write(zeros);
      written += zeros.length;
      expect++;
    }
    if (p.pgno !== expect) {
      throw new LtxContentError(
        p.pgno > header.commit
          ? `page ${p.pgno} is above the commit size of ${header.commit} pages`
          : `database image is missing page ${expect} (next page is ${p.pgno})`,
        { ...(file === undefined ? {} : { file }), offset: p.offset },
      );
    }
    await sink.write(p.data);
    written += p.data.length;
    expect++;
  }
  if (expect === lock && expect <= header.commit) {
    await sink.write(zeros);
    written += zeros.length;
    expect++;
  }
  if (expect !== header.commit + 1) {
    throw new LtxContentError(`database image is missing pages ${expect}..${header.commit}`, file === undefined ? {} : { file });
  }
  return written;
}

/**
 * Decodes a snapshot LTX file (MinTXID 1) into a SQLite database image written
 * to the sink, with the lock page zero-filled. Verifies the file as it goes;
 * if it throws, what reached the sink must be discarded.
 */
export async function decodeDatabase(source: ByteSource, sink: ByteSink, opts: { file?: string } = {}): Promise<DecodeDatabaseResult> {
  const dec = new LtxDecoder(source, opts);
  const header = await dec.readHeader();
  const size = await writeDatabase(header, dec.pages(), sink, opts.file);
  const summary = await dec.finish();
  return { header, size, postApplyChecksum: summary.trailer.postApplyChecksum };
}

/**
 * Merges LTX files (oldest first, the first a full image from TXID 1) and
 * writes the resulting database image to the sink: a restore without the
 * intermediate compacted file. Streams; memory is one page per input.
 */
export async function restoreDatabase(
  inputs: readonly LtxInput[],
  sink: ByteSink,
  opts: MergeOptions = {},
): Promise<DecodeDatabaseResult> {
  const merger = new LtxMerger(inputs, opts);
  const header = await merger.open();
  const size = await writeDatabase(header, merger.pages(), sink, merger.names[0]);
  const postApplyChecksum = await merger.finish();
  return { header, size, postApplyChecksum };
}

