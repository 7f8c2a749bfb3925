import { IterableSource } from '../ltx/byte-source.js';
import { verifyLtx } from '../ltx/decoder.js';
import { formatFilename, formatTxid } from '../ltx/file-name.js';
import { calcRestorePlan } from '../restore/plan.js';
import { RestoreError } from '../restore/errors.js';
import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';

/** Bytes of replica files read back and verified per check, at most: files not seen before are checked over several runs. */
export const DEFAULT_VERIFY_BYTES_PER_CHECK = 256 * 1024 * 1024;

/** A file as a listing shows it; a file rewritten in place shows another (a new size or time). */
export function fingerprint(f: LtxFileInfo): string {
  return `${f.level}/${formatFilename(f.minTxid, f.maxTxid)}/${f.size}/${f.createdAt.getTime()}`;
}

export interface ReplicaCheckInput {
  readonly client: ReplicaClient;
  /** The TXID the replica should restore to at least: what was uploaded to it. */
  readonly uploadedTxid: bigint;
  /** The replicator's newest TXID: the replica can never be past it. */
  readonly localTxid: bigint;
  /** Fingerprints of files known to be intact (written by this replicator, or read back before); checked ones are added. */
  readonly verified: Set<string>;
  readonly budgetBytes?: number;
  readonly signal?: AbortSignal;
}

export type ReplicaProblemKind = 'unrestorable' | 'behind' | 'ahead' | 'corrupt';

export interface ReplicaProblem {
  readonly kind: ReplicaProblemKind;
  readonly message: string;
}

export interface ReplicaCheckResult {
  /** The TXID the replica restores to now (0 when it cannot be restored). */
  readonly restorableTxid: bigint;
  readonly problems: readonly ReplicaProblem[];
  /** Files read back and verified by this check. */
  readonly filesRead: number;
  readonly bytesRead: number;
  /** Files of the chain left unverified because the byte budget ran out. */
  readonly filesPending: number;
}

/**
 * Checks the replica as a restore would see it: the chain from its newest
 * snapshot must reach the TXID uploaded to it, without a gap, and every file
 * of that chain must be intact. Files already verified (same name, size and
 * time as before) are not read again, so a check on an unchanged replica is
 * one listing per level. Problems are returned, never thrown, except for a
 * replica that cannot be listed.
 */
export async function checkReplica(input: ReplicaCheckInput): Promise<ReplicaCheckResult> {
  const problems: ReplicaProblem[] = [];
  let files: LtxFileInfo[] = [];
  let restorableTxid = 0n;
  try {
    const plan = await calcRestorePlan(input.client, input.signal === undefined ? {} : { signal: input.signal });
    files = plan.files;
    restorableTxid = plan.txid;
  } catch (err) {
    if (!(err instanceof RestoreError)) throw err;
    if (input.uploadedTxid > 0n) problems.push({ kind: 'unrestorable', message: `the replica cannot be restored: ${err.message}` });
  }
  if (problems.length === 0 && restorableTxid < input.uploadedTxid) {
    problems.push({
      kind: 'behind',
      message: `the replica restores only to TXID ${formatTxid(restorableTxid)}, but TXID ${formatTxid(input.uploadedTxid)} was uploaded to it (files were deleted)`,
    });
  }
  if (restorableTxid > input.localTxid) {
    problems.push({
      kind: 'ahead',
      message: `the replica restores to TXID ${formatTxid(restorableTxid)}, past this replicator's ${formatTxid(input.localTxid)}: another replicator writes to it`,
    });
  }

  const budget = input.budgetBytes ?? DEFAULT_VERIFY_BYTES_PER_CHECK;
  let bytesRead = 0;
  let filesRead = 0;
  let filesPending = 0;
  for (const f of files) {
    const key = fingerprint(f);
    if (input.verified.has(key)) continue;
    if (bytesRead > 0 && bytesRead + f.size > budget) {
      filesPending++;
      continue;
    }
    input.signal?.throwIfAborted();
    const name = `level ${f.level} file ${formatFilename(f.minTxid, f.maxTxid)}`;
    try {
      const body = await input.client.openLtxFile(f.level, f.minTxid, f.maxTxid, input.signal === undefined ? {} : { signal: input.signal });
      const it = body[Symbol.asyncIterator]();
      try {
        const summary = await verifyLtx(new IterableSource({ [Symbol.asyncIterator]: () => it }), { file: name });
        if (summary.size !== f.size) throw new Error(`read ${summary.size} bytes, the listing says ${f.size}`);
      } finally {
        // The decoder stops at the trailer; the stream (and its file handle) must still be let go.
        await it.return?.();
      }
      input.verified.add(key);
    } catch (err) {
      if (input.signal?.aborted === true) throw err;
      problems.push({ kind: 'corrupt', message: `${name} of the replica is damaged: ${(err as Error).message}` });
    }
    bytesRead += f.size;
    filesRead++;
  }
  return { restorableTxid, problems, filesRead, bytesRead, filesPending };
}
