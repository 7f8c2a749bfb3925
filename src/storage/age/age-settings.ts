import { readFileSync } from 'node:fs';
import type { ReplicaClientOptions } from '../replica-url.js';
import { AgeKeyError } from './age-errors.js';
import { bech32ChecksumOk } from './bech32.js';

/**
 * Option keys under which the config loader hands the replica's `age` block
 * to the storage layer (each a comma-joined list, like every list option).
 */
export const AGE_RECIPIENTS_OPTION = 'age.recipients';
export const AGE_IDENTITIES_OPTION = 'age.identities';

/**
 * Most recipients one replica encrypts to: the age header of every object is
 * padded to a fixed size (see AGE_HEADER_SLOT_SIZE) so that listing can tell
 * plaintext sizes without reading, and this many X25519 stanzas fit in it.
 */
export const MAX_AGE_RECIPIENTS = 9;

/** X25519 recipient: `age1` + 58 bech32 characters (32-byte key and checksum). */
const X25519_RECIPIENT_RE = /^age1[02-9ac-hj-np-z]{58}$/;
/** X25519 identity, as age-keygen prints it: upper-case bech32. */
const X25519_IDENTITY_RE = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/;
const IDENTITY_PREFIX = 'AGE-SECRET-KEY-';

export interface AgeSettings {
  /** X25519 recipients (`age1…`) every object is encrypted to; empty: this replica cannot be written. */
  readonly recipients: readonly string[];
  /** X25519 identities (`AGE-SECRET-KEY-1…`); empty: this replica cannot be read. */
  readonly identities: readonly string[];
}

/** Whether a replica's options ask for age encryption. */
export function hasAgeOptions(options: ReplicaClientOptions): boolean {
  return listOption(options, AGE_RECIPIENTS_OPTION).length > 0 || listOption(options, AGE_IDENTITIES_OPTION).length > 0;
}

/**
 * Why a recipient string cannot be used, or undefined when it can. Only
 * X25519 recipients, the kind Litestream v0.3 took; the text of a bad one is
 * not repeated beyond its first characters, since people paste keys by mistake.
 */
export function checkAgeRecipient(s: string): string | undefined {
  if (X25519_RECIPIENT_RE.test(s)) return bech32ChecksumOk(s) ? undefined : `${JSON.stringify(preview(s))} has a bad checksum (a mistyped character?)`;
  if (s.startsWith(IDENTITY_PREFIX)) return 'an identity (secret key) was given where a recipient (age1…) belongs';
  if (/^age1(pq|tag)/.test(s)) return 'only X25519 recipients (age1 followed by 58 characters) are supported';
  return `${JSON.stringify(preview(s))} is not an age X25519 recipient (age1 followed by 58 characters)`;
}

/**
 * The identities one `identities` entry stands for: the key itself, or the
 * path of an identity file as age-keygen writes it (one key a line, `#`
 * comments). A bad key is reported without its text.
 */
export function readAgeIdentities(entry: string): string[] {
  if (entry.startsWith(IDENTITY_PREFIX)) {
    if (!X25519_IDENTITY_RE.test(entry)) throw new AgeKeyError('age identity is malformed (expected AGE-SECRET-KEY-1 followed by 58 characters)');
    if (!bech32ChecksumOk(entry)) throw new AgeKeyError('age identity has a bad checksum (a mistyped character?)');
    return [entry];
  }
  if (entry.startsWith('age1')) throw new AgeKeyError('a recipient (age1…) was given where an identity (AGE-SECRET-KEY-1…) or identity file belongs');
  let text: string;
  try {
    text = readFileSync(entry, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new AgeKeyError(`cannot read age identity file ${entry}${typeof code === 'string' ? ` (${code})` : ''}`, { cause: err });
  }
  const keys: string[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!X25519_IDENTITY_RE.test(line)) throw new AgeKeyError(`age identity file ${entry}, line ${i + 1}: not an X25519 identity (AGE-SECRET-KEY-1…)`);
    if (!bech32ChecksumOk(line)) throw new AgeKeyError(`age identity file ${entry}, line ${i + 1}: bad checksum (a mistyped character?)`);
    keys.push(line);
  }
  if (keys.length === 0) throw new AgeKeyError(`age identity file ${entry} holds no identity`);
  return keys;
}

/**
 * The replica's age settings, or undefined when it has no age block. `where`
 * names the replica in errors.
 */
export function resolveAgeSettings(where: string, options: ReplicaClientOptions): AgeSettings | undefined {
  const recipients = listOption(options, AGE_RECIPIENTS_OPTION);
  const entries = listOption(options, AGE_IDENTITIES_OPTION);
  if (recipients.length === 0 && entries.length === 0) return undefined;
  for (const r of recipients) {
    const reason = checkAgeRecipient(r);
    if (reason !== undefined) throw new AgeKeyError(`${where}: age recipient: ${reason}`);
  }
  if (recipients.length > MAX_AGE_RECIPIENTS) {
    throw new AgeKeyError(`${where}: at most ${MAX_AGE_RECIPIENTS} age recipients are supported, got ${recipients.length}`);
  }
  const identities: string[] = [];
  for (const e of entries) {
    try {
      identities.push(...readAgeIdentities(e));
    } catch (err) {
      if (err instanceof AgeKeyError) throw new AgeKeyError(`${where}: ${err.message}`, { cause: err.cause });
      throw err;
    }
  }
  return { recipients: [...new Set(recipients)], identities };
}

function listOption(options: ReplicaClientOptions, key: string): string[] {
  const v = options[key];
  if (typeof v !== 'string') return [];
  return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function preview(s: string): string {
  return s.length > 12 ? `${s.slice(0, 12)}…` : s;
}
