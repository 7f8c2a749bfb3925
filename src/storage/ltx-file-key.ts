import { StorageError } from './errors.js';

const MAX_TXID = (1n << 64n) - 1n;

/**
 * Checks the (level, MinTXID, MaxTXID) a caller names a file by, before it is
 * turned into a path or key: a level that is not a small non-negative integer
 * or a TXID outside u64 would make a name no Litestream reader would find.
 */
export function checkLtxFileKey(level: number, minTxid: bigint, maxTxid: bigint): void {
  checkLevel(level);
  checkTxid('minTxid', minTxid);
  checkTxid('maxTxid', maxTxid);
}

export function checkLevel(level: number): void {
  if (!Number.isSafeInteger(level) || level < 0) {
    throw new StorageError(`invalid LTX level ${String(level)}: expected a non-negative integer`);
  }
}

function checkTxid(field: string, txid: bigint): void {
  if (typeof txid !== 'bigint' || txid < 0n || txid > MAX_TXID) {
    throw new StorageError(`invalid ${field} ${String(txid)}: expected an unsigned 64-bit bigint`);
  }
}

/** Checks an OpenOptions byte range: both values non-negative integers. */
export function checkByteRange(offset: number, size: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new StorageError(`invalid read offset ${offset}: expected a non-negative integer`);
  }
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new StorageError(`invalid read size ${size}: expected a non-negative integer (0 reads to the end)`);
  }
}
