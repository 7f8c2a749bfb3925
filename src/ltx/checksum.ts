import { CHECKSUM_FLAG, lockPgno } from './constants.js';
import { Crc64 } from './crc64.js';

const pgnoScratch = new Uint8Array(4);
const pageCrc = new Crc64();

/** ChecksumPage: CHECKSUM_FLAG | CRC-64/ISO(u32be(pgno) ‖ data). */
export function pageChecksum(pgno: number, data: Uint8Array, start = 0, end = data.length): bigint {
  pgnoScratch[0] = pgno >>> 24;
  pgnoScratch[1] = pgno >>> 16;
  pgnoScratch[2] = pgno >>> 8;
  pgnoScratch[3] = pgno;
  return CHECKSUM_FLAG | pageCrc.reset().update(pgnoScratch).update(data, start, end).digest();
}

/**
 * The rolling database checksum: CHECKSUM_FLAG | XOR of every page checksum,
 * lock page excluded. Order does not matter, so pages can be XORed in and out.
 */
export class DatabaseChecksum {
  private value = CHECKSUM_FLAG;
  private readonly lock: number;

  /** Starts from an empty database, or from a known checksum (a file's pre-apply checksum) to chain. */
  constructor(pageSize: number, start: bigint = CHECKSUM_FLAG) {
    this.lock = lockPgno(pageSize);
    this.value = start;
  }

  /** XORs a page in (or out again: the same call removes it). */
  toggle(pgno: number, data: Uint8Array, start = 0, end = data.length): void {
    if (pgno === this.lock) return;
    this.value = CHECKSUM_FLAG | (this.value ^ pageChecksum(pgno, data, start, end));
  }

  /** XORs an already computed page checksum in or out. */
  toggleChecksum(pgno: number, checksum: bigint): void {
    if (pgno === this.lock) return;
    this.value = CHECKSUM_FLAG | (this.value ^ checksum);
  }

  digest(): bigint {
    return this.value;
  }
}
