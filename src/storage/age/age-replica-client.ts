import { formatFilename } from '../../ltx/file-name.js';
import { HEADER_SIZE } from '../../ltx/constants.js';
import { importBackendPackage } from '../backend-package.js';
import { StorageError } from '../errors.js';
import { checkByteRange, checkLtxFileKey } from '../ltx-file-key.js';
import { peekLtxHeader } from '../ltx-header-peek.js';
import type { ListOptions, LtxFileInfo, OpenOptions, ReplicaClient } from '../replica-client.js';
import { AgeDecryptError, AgeKeyError, AgeReplicaError } from './age-errors.js';
import {
  AGE_CHUNK_SIZE,
  AGE_HEADER_SLOT_SIZE,
  AGE_MAGIC,
  AGE_NONCE_SIZE,
  AGE_PAYLOAD_OFFSET,
  AGE_SEALED_CHUNK_SIZE,
  openChunk,
  PAD_STANZA_TYPE,
  padStanzaShape,
  payloadKey,
  plaintextSizeOf,
  publicLtxHeader,
  storedSizeOf,
} from './age-object-layout.js';
import type { AgeSettings } from './age-settings.js';

type AgeModule = typeof import('age-encryption');

/** How the wrapper is named where a missing age-encryption package is reported. */
const AGE_BACKEND_LABEL = 'age-encrypted';
/** What the library says when no identity opens a header; anything else is a damaged header. */
const NO_IDENTITY_MATCHED = 'no identity matched';

/**
 * A replica whose LTX files are age-encrypted on this machine before any
 * backend sees them (see age-object-layout.ts for the stored form). Sizes and
 * byte ranges are the plaintext's, so callers cannot tell it from a plain
 * replica; a ranged read fetches and decrypts only the 64 KiB chunks that
 * hold the range, plus the fixed-size header.
 */
export class AgeReplicaClient implements ReplicaClient {
  readonly type: string;
  #age: Promise<AgeModule> | undefined;

  constructor(
    private readonly inner: ReplicaClient,
    private readonly settings: AgeSettings,
    /** The replica as messages name it. */
    readonly name: string,
  ) {
    this.type = inner.type;
  }

  #load(): Promise<AgeModule> {
    this.#age ??= importBackendPackage(AGE_BACKEND_LABEL, 'age-encryption', () => import('age-encryption')).then((m) => {
      // Builds both once so a key the library refuses is reported before any data moves.
      this.#encrypter(m);
      this.#decrypter(m);
      return m;
    });
    return this.#age;
  }

  async init(signal?: AbortSignal): Promise<void> {
    await this.#load();
    await this.inner.init(signal);
  }

  async *ltxFiles(level: number, seek?: bigint, opts?: ListOptions): AsyncGenerator<LtxFileInfo> {
    for await (const f of this.inner.ltxFiles(level, seek, opts)) {
      // An object of a size this layout cannot have is listed as stored; reading it says what is wrong.
      yield { ...f, size: plaintextSizeOf(f.size) ?? f.size };
    }
  }

  async writeLtxFile(level: number, minTxid: bigint, maxTxid: bigint, data: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<LtxFileInfo> {
    checkLtxFileKey(level, minTxid, maxTxid);
    signal?.throwIfAborted();
    if (this.settings.recipients.length === 0) {
      throw new AgeReplicaError(`${this.name}: writing to an encrypted replica needs age recipients (the age block lists identities only)`);
    }
    const age = await this.#load();
    const where = `${this.name}, level ${level} ${formatFilename(minTxid, maxTxid)}`;
    const { header, body } = await peekLtxHeader(data, minTxid, maxTxid, where);
    let plainBytes = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const chunk of body) {
        plainBytes += chunk.length;
        yield chunk;
      }
    }
    let sealed: ReadableStream<Uint8Array> & { size(n: number): number };
    try {
      sealed = await this.#encrypter(age).encrypt(ReadableStream.from(counted()));
    } catch (err) {
      await body.return();
      throw err;
    }
    // size(0) is the header, the nonce and one empty chunk's tag.
    if (sealed.size(0) !== AGE_HEADER_SLOT_SIZE + AGE_NONCE_SIZE + sealedEmpty()) {
      await sealed.cancel();
      await body.return();
      throw new StorageError(`${where}: age header is ${sealed.size(0) - AGE_NONCE_SIZE - sealedEmpty()} bytes, not ${AGE_HEADER_SLOT_SIZE}`);
    }
    let info: LtxFileInfo;
    try {
      info = await this.inner.writeLtxFile(level, minTxid, maxTxid, withPrefix(publicLtxHeader(header), sealed), signal);
    } catch (err) {
      // A backend that failed before reading anything never started the pipeline, so nothing has stopped the source yet.
      if (!sealed.locked) await sealed.cancel(err).catch(() => undefined);
      await body.return();
      throw err;
    }
    if (info.size !== storedSizeOf(plainBytes)) {
      throw new StorageError(`${where}: the backend stored ${info.size} bytes of a ${storedSizeOf(plainBytes)}-byte encrypted file`);
    }
    return { ...info, size: plainBytes };
  }

  async openLtxFile(level: number, minTxid: bigint, maxTxid: bigint, opts: OpenOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    checkLtxFileKey(level, minTxid, maxTxid);
    const offset = opts.offset ?? 0;
    const size = opts.size ?? 0;
    checkByteRange(offset, size);
    opts.signal?.throwIfAborted();
    if (this.settings.identities.length === 0) {
      throw new AgeReplicaError(`${this.name}: reading an encrypted replica needs age identities (the age block lists recipients only)`);
    }
    const age = await this.#load();
    const what = `level ${level} ${formatFilename(minTxid, maxTxid)}`;
    const firstChunk = Math.floor(offset / AGE_CHUNK_SIZE);
    const lastChunk = size > 0 ? Math.floor((offset + size - 1) / AGE_CHUNK_SIZE) : undefined;
    const sealedEnd = lastChunk === undefined ? 0 : AGE_PAYLOAD_OFFSET + (lastChunk + 1) * AGE_SEALED_CHUNK_SIZE;
    const signal = opts.signal;

    let head: Uint8Array;
    let payload: ExactReader;
    if (firstChunk === 0) {
      // One read serves header and payload: the common case, a whole file or its start.
      payload = new ExactReader(await this.inner.openLtxFile(level, minTxid, maxTxid, { offset: 0, size: sealedEnd, signal }));
      head = await payload.read(AGE_PAYLOAD_OFFSET);
    } else {
      const start = AGE_PAYLOAD_OFFSET + firstChunk * AGE_SEALED_CHUNK_SIZE;
      const headReader = new ExactReader(await this.inner.openLtxFile(level, minTxid, maxTxid, { offset: 0, size: AGE_PAYLOAD_OFFSET, signal }));
      try {
        head = await headReader.read(AGE_PAYLOAD_OFFSET);
      } finally {
        await headReader.close();
      }
      payload = new ExactReader(
        await this.inner.openLtxFile(level, minTxid, maxTxid, { offset: start, size: sealedEnd === 0 ? 0 : sealedEnd - start, signal }),
      );
    }
    let key: Buffer;
    try {
      key = await this.#fileKey(age, head, what);
    } catch (err) {
      await payload.close();
      throw err;
    }
    return this.#plaintext(payload, key, what, firstChunk, offset - firstChunk * AGE_CHUNK_SIZE, size > 0 ? size : Infinity);
  }

  async *#plaintext(payload: ExactReader, key: Buffer, what: string, firstChunk: number, skip: number, want: number): AsyncGenerator<Uint8Array> {
    try {
      for (let index = firstChunk; want > 0; index++) {
        const sealed = await payload.read(AGE_SEALED_CHUNK_SIZE);
        // Nothing at all past a chunk boundary: the range starts at or after the end.
        if (sealed.length === 0 && index === firstChunk && firstChunk > 0) return;
        const opened = openChunk(key, index, sealed);
        if (opened === null) {
          const reason = sealed.length === 0 ? 'ends before its final chunk (truncated)' : `chunk ${index} fails authentication (damaged or truncated)`;
          throw new AgeDecryptError(`${this.name}: encrypted ${what} ${reason}`);
        }
        let out: Uint8Array = opened.plain;
        if (skip > 0) {
          out = out.subarray(Math.min(skip, out.length));
          skip = 0;
        }
        if (out.length > want) out = out.subarray(0, want);
        want -= out.length;
        if (out.length > 0) yield out;
        if (opened.final) return;
      }
    } finally {
      await payload.close();
    }
  }

  async #fileKey(age: AgeModule, head: Uint8Array, what: string): Promise<Buffer> {
    const magic = Buffer.from(head.subarray(HEADER_SIZE, HEADER_SIZE + AGE_MAGIC.length)).toString('latin1');
    if (magic !== AGE_MAGIC) {
      throw new AgeReplicaError(`${this.name}: ${what} is not age-encrypted (was the replica written without an age block?)`);
    }
    if (head.length < AGE_PAYLOAD_OFFSET) throw new AgeDecryptError(`${this.name}: ${what} is too short to be an encrypted LTX file`);
    let fileKey: Uint8Array;
    try {
      fileKey = await this.#decrypter(age).decryptHeader(head.slice(HEADER_SIZE, HEADER_SIZE + AGE_HEADER_SLOT_SIZE));
    } catch (err) {
      const message = err instanceof Error ? err.message : '';
      if (message.includes(NO_IDENTITY_MATCHED)) {
        throw new AgeDecryptError(`${this.name}: none of the configured age identities can decrypt ${what} (wrong identity?)`, { cause: err });
      }
      throw new AgeDecryptError(`${this.name}: the age header of ${what} is damaged`, { cause: err });
    }
    return payloadKey(fileKey, head.subarray(HEADER_SIZE + AGE_HEADER_SLOT_SIZE, AGE_PAYLOAD_OFFSET));
  }

  #encrypter(age: AgeModule): InstanceType<AgeModule['Encrypter']> {
    const e = new age.Encrypter();
    this.settings.recipients.forEach((r, i) => {
      try {
        e.addRecipient(r);
      } catch {
        // The library's message repeats the key, so it is not kept as the cause.
        throw new AgeKeyError(`${this.name}: age recipient ${i + 1} is not valid (bad checksum or encoding)`);
      }
    });
    if (this.settings.recipients.length > 0) {
      const { arg, bodyLength } = padStanzaShape(this.settings.recipients.length);
      e.addRecipient({ wrapFileKey: () => [new age.Stanza([PAD_STANZA_TYPE, arg], new Uint8Array(bodyLength))] });
    }
    return e;
  }

  #decrypter(age: AgeModule): InstanceType<AgeModule['Decrypter']> {
    const d = new age.Decrypter();
    this.settings.identities.forEach((id, i) => {
      try {
        d.addIdentity(id);
      } catch {
        // As for recipients: the library's message holds the secret key itself.
        throw new AgeKeyError(`${this.name}: age identity ${i + 1} is not valid (bad checksum or encoding)`);
      }
    });
    return d;
  }

  async deleteLtxFiles(files: readonly LtxFileInfo[], signal?: AbortSignal): Promise<void> {
    await this.inner.deleteLtxFiles(files, signal);
  }

  async deleteAll(signal?: AbortSignal): Promise<void> {
    await this.inner.deleteAll(signal);
  }
}

function sealedEmpty(): number {
  return storedSizeOf(0) - AGE_PAYLOAD_OFFSET;
}

/** The public header, then the age stream; stopping early cancels the stream and so the plaintext source under it. */
async function* withPrefix(prefix: Uint8Array, sealed: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = sealed.getReader();
  let done = false;
  try {
    yield prefix;
    for (;;) {
      const r = await reader.read();
      if (r.done) {
        done = true;
        return;
      }
      yield r.value;
    }
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/** Reads exactly n bytes at a time from a chunk stream (fewer only at its end). */
class ExactReader {
  readonly #it: AsyncIterator<Uint8Array>;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #ended = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  async read(n: number): Promise<Uint8Array> {
    while (this.#pendingBytes < n && !this.#ended) {
      const r = await this.#it.next();
      if (r.done === true) {
        this.#ended = true;
        break;
      }
      if (r.value.length === 0) continue;
      this.#pending.push(r.value);
      this.#pendingBytes += r.value.length;
    }
    const take = Math.min(n, this.#pendingBytes);
    const out = new Uint8Array(take);
    let at = 0;
    while (at < take) {
      const c = this.#pending[0]!;
      const k = Math.min(c.length, take - at);
      out.set(c.subarray(0, k), at);
      at += k;
      if (k === c.length) this.#pending.shift();
      else this.#pending[0] = c.subarray(k);
    }
    this.#pendingBytes -= take;
    return out;
  }

  async close(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    await this.#it.return?.();
  }
}
