/**
 * A staging group: the events accepted while the previous write was in
 * flight, already encoded as complete batches in one buffer, plus the
 * promise that settles when they are durable. Appends encode straight into
 * the buffer, so a write is a single slice of it with no copying.
 */
import { crc32c } from './crc32c.js';
import { BATCH_HEADER_SIZE, RECORD_SIZE, RECORD_TYPE_SIGNAL, writeBatchHeader } from './format.js';

const NO_BATCH = -1;

export interface StagingLimits {
  /** Most events one group holds before appends must wait. */
  capacity: number;
  batchSize: number;
  batchTimeoutMs: number;
  shard: number;
  region: number;
}

/** Buffer size that holds `capacity` events in full batches plus headroom for batches closed early by time. */
export function stagingBufferBytes(limits: StagingLimits): number {
  const fullBatches = Math.ceil(limits.capacity / limits.batchSize);
  return limits.capacity * RECORD_SIZE + (fullBatches + 64) * BATCH_HEADER_SIZE;
}

function noop(): void {}

export class StagingGroup {
  readonly view: DataView;
  length = 0;
  events = 0;
  /** Offsets of sealed batches' headers, their event counts and first seqs. */
  readonly batchStarts: number[] = [];
  readonly batchCounts: number[] = [];
  readonly batchFirstSeqs: bigint[] = [];
  lastSeq = 0n;
  readonly done: Promise<void>;
  resolve!: () => void;
  reject!: (err: Error) => void;

  private openStart = NO_BATCH;
  private openCount = 0;
  private openFirstSeq = 0n;
  private openedAtMs = 0;
  private openedAtWallMs = 0;

  constructor(
    readonly buf: Buffer,
    private readonly limits: StagingLimits,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Callers chain on `done`; the group itself must not count as an unhandled rejection.
    this.done.catch(noop);
  }

  /**
   * Where the next record goes at time `nowMs`, or -1 when the group is full.
   * A new batch is started when none is open or the open one has been open
   * longer than the batch timeout.
   */
  nextRecordOffset(nowMs: number): number {
    if (this.events >= this.limits.capacity) return -1;
    const opensBatch = this.openStart === NO_BATCH || nowMs - this.openedAtMs > this.limits.batchTimeoutMs;
    const off = opensBatch ? this.length + BATCH_HEADER_SIZE : this.length;
    return off + RECORD_SIZE <= this.buf.length ? off : -1;
  }

  /** Accepts the record already written at `off` (from nextRecordOffset) as event `seq`. */
  commit(off: number, seq: bigint, nowMs: number): void {
    if (off !== this.length) {
      this.seal();
      this.openStart = this.length;
      this.openCount = 0;
      this.openFirstSeq = seq;
      this.openedAtMs = nowMs;
      this.openedAtWallMs = Date.now();
    }
    this.length = off + RECORD_SIZE;
    this.events++;
    this.lastSeq = seq;
    if (++this.openCount >= this.limits.batchSize) this.seal();
  }

  /** Closes the open batch, if any: computes its payload checksum and writes its header. */
  seal(): void {
    const start = this.openStart;
    if (start === NO_BATCH) return;
    this.openStart = NO_BATCH;
    const payload = start + BATCH_HEADER_SIZE;
    writeBatchHeader(this.buf, start, {
      recordType: RECORD_TYPE_SIGNAL,
      shard: this.limits.shard,
      region: this.limits.region,
      count: this.openCount,
      firstSeq: this.openFirstSeq,
      timestampNanos: BigInt(this.openedAtWallMs) * 1_000_000n,
      writeIndex: 0,
      payloadLength: this.length - payload,
      payloadCrc: crc32c(this.buf, 0, payload, this.length),
    });
    this.batchStarts.push(start);
    this.batchCounts.push(this.openCount);
    this.batchFirstSeqs.push(this.openFirstSeq);
  }

  /** Byte length of sealed batch `i`. */
  batchBytes(i: number): number {
    const end = i + 1 < this.batchStarts.length ? this.batchStarts[i + 1]! : this.length;
    return end - this.batchStarts[i]!;
  }
}
