/**
 * The `host-key` setting: one public key in authorized_keys format
 * (`[options] type base64 [comment]`), as Litestream reads it, parsed here
 * without the SSH library so a bad value fails when the config is read.
 */

export interface PinnedHostKey {
  /** Key type as written, e.g. `ssh-ed25519`. */
  type: string;
  /** The key blob, as the server sends it during key exchange. */
  blob: Buffer;
}

const KEY_TYPE_RE = /^(ssh-(rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)$/;
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Returns the pinned key, or a reason it is not one. The type inside the
 * blob must be the type written before it, as OpenSSH requires.
 */
export function parseHostKeyLine(line: string): PinnedHostKey | string {
  const fields = line.trim().split(/\s+/);
  const at = fields.findIndex((f) => KEY_TYPE_RE.test(f));
  if (at < 0) return 'expected an authorized_keys line such as "ssh-ed25519 AAAA... comment"';
  const type = fields[at]!;
  const data = fields[at + 1];
  if (data === undefined || !BASE64_RE.test(data)) return `the ${type} key has no base64 key data after its type`;
  const blob = Buffer.from(data, 'base64');
  const inner = blobType(blob);
  if (inner === undefined) return `the ${type} key data is not an SSH public key`;
  if (inner !== type) return `the key data is a ${inner} key, not ${type}`;
  return { type, blob };
}

/** The type string an SSH public key blob starts with, or undefined when it is not one. */
function blobType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) return undefined;
  return blob.subarray(4, 4 + len).toString('latin1');
}

/**
 * Host key algorithms to offer for a pinned key, so a server with several
 * host keys presents the pinned one rather than whichever it prefers.
 */
export function hostKeyAlgorithms(type: string): string[] {
  return type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type];
}
