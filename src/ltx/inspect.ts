import { withFileSource } from '../io/file-source.js';
import { LtxDecoder, type LtxLayout } from './decoder.js';
import { LtxError } from './errors.js';
import { hex32, hex64, type DecodedLtxHeader } from './header.js';
import type { PageIndexEntry } from './page-index.js';

/** A plain-JSON description of an LTX file: 64-bit values as 16-digit hex strings. */
export interface LtxInspection {
  file: string;
  valid: boolean;
  layout?: LtxLayout;
  header?: {
    flags: string;
    pageSize: number;
    commit: number;
    minTxid: string;
    maxTxid: string;
    timestamp: number;
    time: string;
    preApplyChecksum: string;
    walOffset: number;
    walSize: number;
    walSalt1: string;
    walSalt2: string;
    nodeId: string;
  };
  pageCount: number;
  pages?: { pgno: number; flags: number; checksum: string; offset: number; size: number }[];
  index?: PageIndexEntry[];
  indexSize?: number;
  trailer?: { postApplyChecksum: string; fileChecksum: string };
  size?: number;
  warnings: string[];
  error?: { kind: string; reason: string; offset?: number; message: string };
}

function describeHeader(h: DecodedLtxHeader): NonNullable<LtxInspection['header']> {
  const t = new Date(h.timestamp);
  return {
    flags: `0x${hex32(h.flags)}`,
    pageSize: h.pageSize,
    commit: h.commit,
    minTxid: hex64(h.minTxid),
    maxTxid: hex64(h.maxTxid),
    timestamp: h.timestamp,
    time: Number.isNaN(t.getTime()) ? 'invalid' : t.toISOString(),
    preApplyChecksum: hex64(h.preApplyChecksum),
    walOffset: h.walOffset,
    walSize: h.walSize,
    walSalt1: `0x${hex32(h.walSalt1)}`,
    walSalt2: `0x${hex32(h.walSalt2)}`,
    nodeId: hex64(h.nodeId),
  };
}

/**
 * Reads and verifies one LTX file, streaming. Never throws for a bad file:
 * the problem is reported in `error`. With `details`, per-page records are
 * collected (one small record per page, no page data).
 */
export async function inspectLtxFile(path: string, opts: { strict?: boolean; details?: boolean } = {}): Promise<LtxInspection> {
  const out: LtxInspection = { file: path, valid: false, pageCount: 0, warnings: [] };
  const pages: NonNullable<LtxInspection['pages']> = [];
  if (opts.details) out.pages = pages;
  try {
    await withFileSource(path, async (src) => {
      const dec = new LtxDecoder(src, { file: path, strict: opts.strict ?? false, pageChecksums: opts.details ?? false, reusePageBuffer: true });
      const h = await dec.readHeader();
      out.header = describeHeader(h);
      out.layout = dec.fileLayout;
      for (;;) {
        const p = await dec.readPage();
        if (!p) break;
        out.pageCount++;
        if (opts.details) pages.push({ pgno: p.pgno, flags: p.flags, checksum: hex64(p.checksum!), offset: p.offset, size: p.size });
      }
      const s = await dec.finish();
      out.warnings = s.warnings;
      out.size = s.size;
      out.trailer = { postApplyChecksum: hex64(s.trailer.postApplyChecksum), fileChecksum: hex64(s.trailer.fileChecksum) };
      if (opts.details) {
        out.index = s.index;
        out.indexSize = Number(s.indexSizeField);
      }
      out.valid = true;
    });
  } catch (err) {
    if (err instanceof LtxError) {
      out.error = { kind: err.name, reason: err.reason, message: err.message, ...(err.offset === undefined ? {} : { offset: err.offset }) };
    } else {
      const e = err as NodeJS.ErrnoException;
      out.error = { kind: e.code ?? 'Error', reason: e.message, message: `${path}: ${e.message}` };
    }
  }
  return out;
}
