import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeBytesAtomic } from '../io/durable-fs.js';
import { formatTxid } from '../ltx/file-name.js';
import type { ValidationStatus } from './db-replicator.js';

/** `<meta>/validation.json`: the last check of the replica and the database, for `tidemark status` to show without the daemon. */
export const VALIDATION_FILE = 'validation.json';

/** The file's content, as `status` prints it. */
export interface SavedValidation {
  readonly at: string;
  readonly txid: string;
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly restorable_txid: string;
  readonly healed_by?: string;
  /** The most recent check that found something wrong (this one, or an earlier one). */
  readonly last_divergence?: { readonly at: string; readonly problems: readonly string[]; readonly healed_by?: string };
}

/**
 * The file of one replica's checks: `validation.json` for a database's first
 * (or only) replica, `validation-<name>.json` for each further one.
 */
export function validationFileName(replica?: string): string {
  return replica === undefined ? VALIDATION_FILE : `validation-${encodeURIComponent(replica)}.json`;
}

export async function saveValidation(metaDir: string, v: ValidationStatus, replica?: string): Promise<void> {
  const previous = v.ok ? (await loadValidation(metaDir, replica))?.last_divergence : undefined;
  const divergence = v.ok
    ? previous
    : { at: v.at.toISOString(), problems: v.problems, ...(v.healedBy === undefined ? {} : { healed_by: v.healedBy }) };
  const saved: SavedValidation = {
    at: v.at.toISOString(),
    txid: formatTxid(v.txid),
    ok: v.ok,
    problems: v.problems,
    restorable_txid: formatTxid(v.restorableTxid),
    ...(v.healedBy === undefined ? {} : { healed_by: v.healedBy }),
    ...(divergence === undefined ? {} : { last_divergence: divergence }),
  };
  await writeBytesAtomic(join(metaDir, validationFileName(replica)), new TextEncoder().encode(`${JSON.stringify(saved)}\n`));
}

/** The last saved check; undefined when there is none or it cannot be read. */
export async function loadValidation(metaDir: string, replica?: string): Promise<SavedValidation | undefined> {
  try {
    const v = JSON.parse(await readFile(join(metaDir, validationFileName(replica)), 'utf8')) as SavedValidation;
    return typeof v.ok === 'boolean' && typeof v.at === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}
