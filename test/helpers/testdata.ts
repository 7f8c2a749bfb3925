import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The checked-in files written by the reference implementations (testdata/README.md), kept in the
 * repository so that a fresh clone runs every test with nothing beside it.
 */
export const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'testdata');
export const LTX_TESTDATA = join(TESTDATA, 'ltx');

export interface ManifestPage {
  pgno: number;
  flags: number;
  page_checksum: string;
  index_offset: number;
  index_size: number;
  data_hex?: string;
}

export interface ManifestEntry {
  file: string;
  size: number;
  header: {
    Version: number;
    Flags: number;
    PageSize: number;
    Commit: number;
    MinTXID: string;
    MaxTXID: string;
    Timestamp: number;
    PreApplyChecksum: string;
    WALOffset: number;
    WALSize: number;
    WALSalt1: number;
    WALSalt2: number;
    NodeID: number;
  };
  pages: ManifestPage[] | null;
  post_apply_checksum: string;
  file_checksum: string;
  decode_database_to_sha_or_err?: string;
  error?: string;
}

export const VECTOR_SETS = [
  { dir: 'go-v0.5.1-frame', manifest: 'manifest.go-decoder-v0.5.1.json', encoding: 'frame' as const, pageFlags: 0 },
  { dir: 'go-v0.5.2-block', manifest: 'manifest.go-decoder-head.json', encoding: 'block' as const, pageFlags: 1 },
];

export function readManifest(dir: string, name: string): ManifestEntry[] {
  return JSON.parse(readFileSync(join(LTX_TESTDATA, dir, name), 'utf8')) as ManifestEntry[];
}

export function readVector(dir: string, file: string): Uint8Array {
  return new Uint8Array(readFileSync(join(LTX_TESTDATA, dir, file)));
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

export function hex64(n: bigint): string {
  return n.toString(16).padStart(16, '0');
}

/** Compressible page content used by the vectors: (pgno*31 + ver*7 + floor(j/16)) & 0xff. */
export function pattern(pgno: number, ver: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let j = 0; j < n; j++) out[j] = (pgno * 31 + ver * 7 + Math.floor(j / 16)) & 0xff;
  return out;
}

/** Incompressible page content used by the vectors: a 32-bit xorshift stream, little-endian words. */
export function xorshift(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  const dv = new DataView(out.buffer);
  let x = Number((BigInt(seed) * 2654435761n + 1n) % 4294967296n);
  for (let i = 0; i + 4 <= n; i += 4) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    dv.setUint32(i, x, true);
  }
  return out;
}
