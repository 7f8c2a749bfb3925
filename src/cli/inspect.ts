import type { Command } from 'commander';
import { inspectLtxFile, type LtxInspection } from '../ltx/inspect.js';

interface InspectFlags {
  json?: boolean;
  strict?: boolean;
}

function summaryLine(r: LtxInspection): string {
  if (r.error !== undefined) return `${r.file}: invalid: ${r.error.reason}${r.error.offset === undefined ? '' : ` (offset ${r.error.offset})`}`;
  const h = r.header!;
  const warn = r.warnings.length > 0 ? ` (warning: ${r.warnings.join('; ')})` : '';
  return `${r.file}: ok TXID ${h.minTxid}-${h.maxTxid}, ${r.pageCount} page${r.pageCount === 1 ? '' : 's'}, page size ${h.pageSize}${r.layout === 'legacy-v2' ? ', legacy v2 layout' : ''}${warn}`;
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('verify LTX files and describe them; exit 1 if any is invalid')
    .argument('<FILE...>', 'LTX files to verify')
    .option('--json', 'print header, pages, index and trailer of each file as JSON')
    .option('--strict', 'also enforce the checks every well-formed file meets (page order, index, lock page)')
    .action(async (files: string[], flags: InspectFlags) => {
      const results: LtxInspection[] = [];
      for (const file of files) {
        const r = await inspectLtxFile(file, { strict: flags.strict ?? false, details: flags.json ?? false });
        results.push(r);
        if (!flags.json) process.stdout.write(summaryLine(r) + '\n');
      }
      if (flags.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
      if (results.some((r) => r.error !== undefined)) process.exitCode = 1;
    });
}
