/**
 * Litestream spells long flags with one dash (`-txid`, `-json`); commander
 * expects two. Rewrites a single-dash word of two or more letters to the
 * double-dash form, so both spellings work. Single-letter flags (`-o`) and
 * anything after `--` are left alone, as are negative numbers.
 */
export function normalizeArgv(args: readonly string[]): string[] {
  const out: string[] = [];
  let passthrough = false;
  for (const a of args) {
    if (passthrough) out.push(a);
    else if (a === '--') {
      passthrough = true;
      out.push(a);
    } else if (/^-[a-zA-Z][a-zA-Z0-9-]+(=.*)?$/s.test(a)) out.push('-' + a);
    else out.push(a);
  }
  return out;
}
