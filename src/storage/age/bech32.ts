/**
 * bech32 (BIP 173), the encoding age writes its keys in: enough of it to
 * check a key's checksum when the config loads, and to write the keys of a
 * replicator's local identity, without loading the age library.
 */

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
const CHECKSUM_WORDS = 6;

function polymod(values: readonly number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    GENERATOR.forEach((g, i) => {
      if (((top >>> i) & 1) !== 0) chk ^= g;
    });
  }
  return chk;
}

function expandHrp(hrp: string): number[] {
  const codes = [...hrp].map((c) => c.charCodeAt(0));
  return [...codes.map((c) => c >>> 5), 0, ...codes.map((c) => c & 31)];
}

/** Whether `s` (either case) is bech32 with a valid checksum. */
export function bech32ChecksumOk(s: string): boolean {
  const lower = s.toLowerCase();
  const sep = lower.lastIndexOf('1');
  if (sep < 1) return false;
  const words: number[] = [];
  for (const c of lower.slice(sep + 1)) {
    const v = CHARSET.indexOf(c);
    if (v < 0) return false;
    words.push(v);
  }
  return words.length >= CHECKSUM_WORDS && polymod([...expandHrp(lower.slice(0, sep)), ...words]) === 1;
}

/** `data` as bech32 under the (lower-case) human-readable part `hrp`; no length limit, as age uses it. */
export function bech32Encode(hrp: string, data: Uint8Array): string {
  const words: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const byte of data) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      words.push((acc >>> bits) & 31);
    }
  }
  if (bits > 0) words.push((acc << (5 - bits)) & 31);
  const mod = polymod([...expandHrp(hrp), ...words, ...new Array<number>(CHECKSUM_WORDS).fill(0)]) ^ 1;
  for (let i = 0; i < CHECKSUM_WORDS; i++) words.push((mod >>> (5 * (CHECKSUM_WORDS - 1 - i))) & 31);
  return `${hrp}1${words.map((w) => CHARSET[w]).join('')}`;
}
