import { createDecipheriv, hkdfSync } from 'node:crypto';
import { HEADER_FLAG_NO_CHECKSUM, HEADER_SIZE } from '../../ltx/constants.js';
import { encodeHeader, type LtxHeader } from '../../ltx/header.js';

/**
 * How an encrypted replica object is laid out:
 *
 *   [public LTX header, 100 bytes][age file: header padded to AGE_HEADER_SLOT_SIZE,
 *    16-byte nonce, STREAM payload of the whole plaintext LTX file]
 *
 * The public header is a valid LTX header holding only what the object's name
 * and metadata already tell (TXIDs, timestamp), so every backend stores its
 * timestamp exactly as for a plain replica. The age header always has the
 * same length, so the plaintext size follows from the stored size alone and a
 * plaintext byte range maps onto whole ciphertext chunks.
 */

/** Bytes the age header is padded to: room for MAX_AGE_RECIPIENTS X25519 stanzas. */
export const AGE_HEADER_SLOT_SIZE = 1024;
/** age's payload nonce, between header and payload. */
export const AGE_NONCE_SIZE = 16;
/** age STREAM: plaintext chunk size and the Poly1305 tag after each chunk. */
export const AGE_CHUNK_SIZE = 64 * 1024;
export const AGE_TAG_SIZE = 16;
export const AGE_SEALED_CHUNK_SIZE = AGE_CHUNK_SIZE + AGE_TAG_SIZE;
/** Where the payload starts in a stored object. */
export const AGE_PAYLOAD_OFFSET = HEADER_SIZE + AGE_HEADER_SLOT_SIZE + AGE_NONCE_SIZE;
/** What the public header claims as page size: a fixed value, so it says nothing about the database. */
const PUBLIC_PAGE_SIZE = 4096;

export const AGE_MAGIC = 'age-encryption.org/v1\n';

/** Bytes of one X25519 stanza in the age header: `-> X25519 <43>\n<43>\n`. */
export const X25519_STANZA_SIZE = 98;
/** `age-encryption.org/v1\n` before the stanzas, `--- <43-char MAC>\n` after them. */
const AGE_HEADER_FRAME_SIZE = AGE_MAGIC.length + 48;
/** The padding stanza's type; age readers skip stanzas no identity claims. */
export const PAD_STANZA_TYPE = 'tidemark.dev/pad';
/** A stanza of `-> <type> <arg>\n` and an empty body line. */
const PAD_STANZA_MIN = 3 + PAD_STANZA_TYPE.length + 1 + 1 + 1 + 1;
/** One body line: 48 bytes as 64 base64 characters and a newline. */
const BODY_LINE_BYTES = 48;
const BODY_LINE_SIZE = 65;

/** The public header for an LTX file whose real header is `h`. */
export function publicLtxHeader(h: Pick<LtxHeader, 'minTxid' | 'maxTxid' | 'timestamp'>): Uint8Array {
  return encodeHeader({
    flags: HEADER_FLAG_NO_CHECKSUM,
    pageSize: PUBLIC_PAGE_SIZE,
    commit: 0,
    minTxid: h.minTxid,
    maxTxid: h.maxTxid,
    timestamp: h.timestamp,
    preApplyChecksum: 0n,
    walOffset: 0,
    walSize: 0,
    walSalt1: 0,
    walSalt2: 0,
    nodeId: 0n,
  });
}

/**
 * The padding stanza that brings a header with `recipients` X25519 stanzas to
 * AGE_HEADER_SLOT_SIZE: its body fills whole base64 lines and its second
 * argument the bytes left over. Returns the argument string and body length.
 */
export function padStanzaShape(recipients: number): { arg: string; bodyLength: number } {
  const gap = AGE_HEADER_SLOT_SIZE - AGE_HEADER_FRAME_SIZE - recipients * X25519_STANZA_SIZE;
  if (gap < PAD_STANZA_MIN) throw new RangeError(`${recipients} recipients do not fit in a ${AGE_HEADER_SLOT_SIZE}-byte age header`);
  // A body of whole lines is followed by an empty line (age's end-of-body marker).
  // The argument takes 1..65 bytes, so no line grows much past a body line's width.
  const lines = Math.floor((gap - PAD_STANZA_MIN) / BODY_LINE_SIZE);
  const argLen = gap - (PAD_STANZA_MIN - 1) - lines * BODY_LINE_SIZE;
  return { arg: 'x'.repeat(argLen), bodyLength: lines * BODY_LINE_BYTES };
}

/** age STREAM ciphertext size for a plaintext size (one empty chunk for empty input). */
export function sealedSize(plain: number): number {
  const chunks = Math.max(1, Math.ceil(plain / AGE_CHUNK_SIZE));
  return plain + chunks * AGE_TAG_SIZE;
}

/** Plaintext size of a stored object of `stored` bytes, or undefined when no object of this layout has that size. */
export function plaintextSizeOf(stored: number): number | undefined {
  const sealed = stored - AGE_PAYLOAD_OFFSET;
  if (sealed < AGE_TAG_SIZE) return undefined;
  const full = Math.floor(sealed / AGE_SEALED_CHUNK_SIZE);
  const last = sealed % AGE_SEALED_CHUNK_SIZE;
  if (last > 0 && last <= AGE_TAG_SIZE && !(full === 0 && last === AGE_TAG_SIZE)) return undefined;
  return sealed - full * AGE_TAG_SIZE - (last > 0 ? AGE_TAG_SIZE : 0);
}

/** The stored object's size for a plaintext size. */
export function storedSizeOf(plain: number): number {
  return AGE_PAYLOAD_OFFSET + sealedSize(plain);
}

/** The STREAM payload key, derived from the file key and nonce as age does. */
export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
}

/**
 * Opens sealed chunk `index` of a payload. Returns the plaintext and whether
 * the chunk is the final one, or null when it authenticates neither way (wrong
 * key, damaged or truncated data). A full-sized chunk may be final or not,
 * and only the flag the writer used authenticates, so both are tried.
 */
export function openChunk(key: Buffer, index: number, sealed: Uint8Array): { plain: Buffer; final: boolean } | null {
  if (sealed.length < AGE_TAG_SIZE) return null;
  const flags = sealed.length === AGE_SEALED_CHUNK_SIZE ? [false, true] : [true];
  for (const final of flags) {
    const nonce = Buffer.alloc(12);
    nonce.writeUIntBE(index, 5, 6);
    nonce[11] = final ? 1 : 0;
    const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: AGE_TAG_SIZE });
    d.setAuthTag(sealed.subarray(sealed.length - AGE_TAG_SIZE));
    const body = d.update(sealed.subarray(0, sealed.length - AGE_TAG_SIZE));
    try {
      d.final();
    } catch {
      continue;
    }
    return { plain: body, final };
  }
  return null;
}
