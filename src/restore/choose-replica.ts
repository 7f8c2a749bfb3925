import type { ReplicaClient } from '../storage/replica-client.js';
import { calcRestorePlan, type RestorePlan } from './plan.js';

/** One replica a database can be restored from. */
export interface RestoreCandidate {
  readonly name: string;
  readonly client: ReplicaClient;
}

export interface ReplicaChoice<C extends RestoreCandidate> {
  readonly chosen: C;
  /** The plan for the chosen replica; undefined when no replica could be planned (the first is chosen, and restore reports why). */
  readonly plan: RestorePlan | undefined;
  /** Every candidate's TXID, or why it cannot be restored from, in the order given. */
  readonly considered: readonly { readonly name: string; readonly txid?: bigint; readonly error?: Error }[];
}

/**
 * The replica to restore from when a database has several: the one whose
 * plan for the target (latest, a TXID, a time) reaches the highest TXID; on
 * a tie, the first given. Replicas are planned at once, so a slow one costs
 * only its own listing time. When none can be planned the first is chosen,
 * so its error is the one restore reports.
 */
export async function chooseReplica<C extends RestoreCandidate>(
  candidates: readonly C[],
  target: { txid?: bigint; timestamp?: Date; signal?: AbortSignal } = {},
): Promise<ReplicaChoice<C>> {
  if (candidates.length === 0) throw new TypeError('chooseReplica needs at least one replica');
  const results = await Promise.allSettled(candidates.map((c) => calcRestorePlan(c.client, { ...target, replicaName: c.name })));
  let best: number | undefined;
  const considered = results.map((r, i) => {
    const name = candidates[i]!.name;
    if (r.status === 'rejected') return { name, error: r.reason instanceof Error ? r.reason : new Error(String(r.reason)) };
    if (best === undefined || r.value.txid > (results[best] as PromiseFulfilledResult<RestorePlan>).value.txid) best = i;
    return { name, txid: r.value.txid };
  });
  const index = best ?? 0;
  const plan = best === undefined ? undefined : (results[best] as PromiseFulfilledResult<RestorePlan>).value;
  return { chosen: candidates[index]!, plan, considered };
}
