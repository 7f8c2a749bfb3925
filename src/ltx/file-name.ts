/** LTX file names: `%016x-%016x.ltx`, lower-case hex MinTXID and MaxTXID. */

const FILENAME_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.ltx$/;
const TXID_RE = /^[0-9a-f]{16}$/;

export function formatTxid(txid: bigint): string {
  return txid.toString(16).padStart(16, '0');
}

/** Parses a 16-digit lower-case hex TXID; returns null for anything else. */
export function parseTxid(s: string): bigint | null {
  return TXID_RE.test(s) ? BigInt('0x' + s) : null;
}

export function formatFilename(minTxid: bigint, maxTxid: bigint): string {
  return `${formatTxid(minTxid)}-${formatTxid(maxTxid)}.ltx`;
}

/** Parses a base name; returns null when it is not an LTX file name (listings skip those). */
export function parseFilename(name: string): { minTxid: bigint; maxTxid: bigint } | null {
  const m = FILENAME_RE.exec(name);
  if (!m) return null;
  return { minTxid: BigInt('0x' + m[1]!), maxTxid: BigInt('0x' + m[2]!) };
}
