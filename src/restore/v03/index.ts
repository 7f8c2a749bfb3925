/** Restore from backups in the Litestream v0.3 layout: listing, the choice against LTX, planning, the LZ4 stream decoder. */
export {
  listV03Backups,
  v03ListingRows,
  v03TimeBounds,
  isEmptyV03Listing,
  type V03Listing,
  type V03GenerationListing,
  type V03ListingRow,
} from './listing.js';
export { calcV03RestorePlan, type V03RestorePlan, type V03IndexPlan, type V03PlanOptions } from './plan.js';
export { shouldUseV03Restore, chooseRestoreFormat, type RestoreFormatInputs, type RestoreFormatChoice } from './choose-format.js';
export { writeV03Image, type V03Image, type V03RestoreSummary } from './write-image.js';
export { SegmentPrefetcher, V03_PREFETCH_BYTES } from './segment-prefetch.js';
export { V03_APPLY_WRITE_BYTES } from './wal-index.js';
export { decodeLz4Frames, LZ4_FRAME_MAGIC } from './lz4-frame-stream.js';
export { Xxh32Stream } from '../../ltx/xxh32.js';
export { V03RestoreError, V03CorruptObjectError, V03SegmentGapError, V03NoSnapshotError } from './errors.js';
