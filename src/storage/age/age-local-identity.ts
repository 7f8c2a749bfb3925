import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReplicaClientOptions } from '../replica-url.js';
import { AgeKeyError } from './age-errors.js';
import { AGE_IDENTITIES_OPTION, AGE_RECIPIENTS_OPTION, MAX_AGE_RECIPIENTS, readAgeIdentities } from './age-settings.js';
import { bech32Encode } from './bech32.js';

/**
 * The replicator's own age identity, kept in the database's meta directory.
 * A replicator configured with recipients only must still read back what it
 * uploaded: compaction above L1 and the replica check read replica files.
 * So it also encrypts to a key of its own. The key sits next to the local
 * plaintext L0 copies and the database itself, so it opens nothing that the
 * meta directory does not already hold in the clear.
 */
export const LOCAL_AGE_IDENTITY_FILE = 'age-identity.txt';
/** Read and write for the owner only, like any file holding a secret key. */
const IDENTITY_FILE_MODE = 0o600;

/** The identity and recipient kept in `metaDir`, made on first use. */
export function localAgeIdentity(metaDir: string): { identity: string; recipient: string } {
  const path = join(metaDir, LOCAL_AGE_IDENTITY_FILE);
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw new AgeKeyError(`cannot read the replicator's age identity ${path}`, { cause: err });
  }
  if (text === undefined) {
    const { privateKey, publicKey } = generateKeyPairSync('x25519');
    const d = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
    const x = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
    const identity = bech32Encode('age-secret-key-', d).toUpperCase();
    const recipient = bech32Encode('age', x);
    mkdirSync(metaDir, { recursive: true });
    text = `# tidemark replicator key: lets it read back its own uploads (compaction, checks)\n# public key: ${recipient}\n${identity}\n`;
    try {
      // 'wx': two replicators starting at once do not overwrite each other's key.
      writeFileSync(path, text, { mode: IDENTITY_FILE_MODE, flag: 'wx' });
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EEXIST') throw new AgeKeyError(`cannot write the replicator's age identity ${path}`, { cause: err });
      text = readFileSync(path, 'utf8');
    }
  }
  const identity = readAgeIdentities(path)[0]!;
  const recipient = /^# public key: (age1\S+)$/m.exec(text)?.[1];
  if (recipient === undefined) throw new AgeKeyError(`the replicator's age identity ${path} has no "# public key:" line`);
  return { identity, recipient };
}

/**
 * A replicator's options: when the age block has recipients but no
 * identities, the replicator's own key is added to both, so it can read
 * back its uploads. Any other options are returned as they are.
 */
export function withLocalAgeIdentity(options: ReplicaClientOptions, metaDir: string, where = 'replica'): ReplicaClientOptions {
  const recipients = options[AGE_RECIPIENTS_OPTION];
  const identities = options[AGE_IDENTITIES_OPTION];
  if (typeof recipients !== 'string' || recipients === '' || (typeof identities === 'string' && identities !== '')) return options;
  const count = new Set(recipients.split(',').map((r) => r.trim()).filter((r) => r !== '')).size;
  if (count >= MAX_AGE_RECIPIENTS) {
    throw new AgeKeyError(
      `${where}: an age block with recipients only takes at most ${MAX_AGE_RECIPIENTS - 1} of them (got ${count}): the replicator adds a key of its own; list an identity to use all ${MAX_AGE_RECIPIENTS}`,
    );
  }
  const local = localAgeIdentity(metaDir);
  return { ...options, [AGE_RECIPIENTS_OPTION]: `${recipients},${local.recipient}`, [AGE_IDENTITIES_OPTION]: local.identity };
}
