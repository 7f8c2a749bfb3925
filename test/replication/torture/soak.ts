/**
 * The soak: the torture harness for many cycles on one database and replica,
 * checking every few cycles (only the TXIDs new since the last check, so the
 * cost of a check stays bounded) and printing the counters as it goes.
 * Started by scripts/soak.mjs (`npm run soak -- --cycles 1000 [--seed N]`).
 */
import { formatProgress, formatSummary, reproduceSoak } from './report.js';
import { runTorture, DEFAULT_WINDOW_MS, type TortureProgress } from './run.js';
import { parseSeed, seedFromEnv, SEED_ENV } from './seeds.js';

const DEFAULT_CYCLES = 1000;
/** A check every 10 cycles: well within the 5 minutes L0 retention keeps compacted L0 files. */
const DEFAULT_CHECK_EVERY = 10;
const DEFAULT_PRINT_EVERY = 5;
/**
 * L0 retention removes compacted L0 files 5 minutes after compaction; TXIDs
 * gone before a check saw them count as missing. A cycle takes its window
 * plus a few seconds of start-up and teardown.
 */
const L0_RETENTION_MARGIN_MS = 4 * 60_000;
const CYCLE_OVERHEAD_MS = 4000;
const USAGE = `usage: npm run soak -- [--cycles N] [--seed N] [--check-every N] [--print-every N] [--window-ms N] [--hogs N]
  --cycles N       cycles to run (default ${DEFAULT_CYCLES})
  --seed N         seed to replay (default $${SEED_ENV}, else random)
  --check-every N  catch up and check every N cycles (default ${DEFAULT_CHECK_EVERY})
  --print-every N  print the counters every N cycles (default ${DEFAULT_PRINT_EVERY})
  --window-ms N    how long each cycle's writers run (default ${DEFAULT_WINDOW_MS})
  --hogs N         CPU hogs (default one per core)`;

interface SoakArgs {
  cycles: number;
  seed: number;
  checkEvery: number;
  printEvery: number;
  windowMs: number;
  hogs: number | undefined;
}

function parseArgs(argv: readonly string[]): SoakArgs {
  const a: SoakArgs = { cycles: DEFAULT_CYCLES, seed: seedFromEnv(), checkEvery: DEFAULT_CHECK_EVERY, printEvery: DEFAULT_PRINT_EVERY, windowMs: DEFAULT_WINDOW_MS, hogs: undefined };
  const count = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) throw new Error(`${flag} needs an integer ≥ ${min}, got ${v ?? 'nothing'}\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const v = argv[i + 1];
    switch (flag) {
      case '--cycles':
        a.cycles = count(flag, v, 1);
        break;
      case '--seed':
        if (v === undefined) throw new Error(`--seed needs a value\n${USAGE}`);
        a.seed = parseSeed(v);
        break;
      case '--check-every':
        a.checkEvery = count(flag, v, 1);
        break;
      case '--print-every':
        a.printEvery = count(flag, v, 1);
        break;
      case '--window-ms':
        a.windowMs = count(flag, v, 100);
        break;
      case '--hogs':
        a.hogs = count(flag, v, 0);
        break;
      case '-h':
      case '--help':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${flag}\n${USAGE}`);
    }
    i++;
  }
  return a;
}

/** Runs the soak; resolves the process exit code (1 when anything failed). */
export async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  const reproduce = reproduceSoak(args.seed, args.cycles, args.checkEvery);
  console.log(`soak: seed ${args.seed}, ${args.cycles} cycles, check every ${args.checkEvery} (reproduce: ${reproduce})`);
  const between = args.checkEvery * (args.windowMs + CYCLE_OVERHEAD_MS);
  if (between > L0_RETENTION_MARGIN_MS) {
    console.log(`warning: checks about ${Math.round(between / 1000)} s apart; L0 retention may remove TXIDs before they are checked (they are then reported missing)`);
  }
  let last: TortureProgress | undefined;
  let reported = 0;
  // Registered before the harness's own cleanup hook, which kills the children and exits after this has printed.
  process.once('SIGINT', () => {
    console.log(`soak interrupted: ${last === undefined ? 'no cycle finished' : formatProgress(last)}`);
    for (const f of last?.failures ?? []) {
      console.log(`  - [${f.kind}] seed ${args.seed}, cycle ${f.cycle}: ${f.message}`);
      for (const d of f.details) console.log(`      ${d}`);
    }
    if (last !== undefined) console.log(`  temporary directory left as it was: ${last.dir}`);
  });
  const summary = await runTorture({
    seed: args.seed,
    cycles: args.cycles,
    checkEvery: args.checkEvery,
    windowMs: args.windowMs,
    ...(args.hogs === undefined ? {} : { hogs: args.hogs }),
    onProgress: (p) => {
      last = p;
      // New failures are printed as they are found, with the cycle they belong to.
      for (const f of p.failures.slice(reported)) console.log(`FAILURE [${f.kind}] seed ${p.seed}, cycle ${f.cycle}: ${f.message}`);
      reported = p.failures.length;
      if (p.checked || (p.cycle + 1) % args.printEvery === 0) console.log(`cycle ${p.cycle + 1}/${args.cycles}${p.checked ? ' (checked)' : ''}: ${formatProgress(p)}`);
    },
  });
  console.log(formatSummary(summary, reproduce));
  return summary.failures.length === 0 ? 0 : 1;
}
