/**
 * tidemark against Litestream v0.3.13, side by side (npm run bench:compare).
 *
 * Both replicate the same workloads to a directory replica through their own
 * command lines, with default settings, in the same run, taking turns
 * (which goes first alternates by round). Two workloads, each written by a
 * separate writer process (bench/compare/writer-child.ts): a 10 s burst of
 * one-row transactions as fast as better-sqlite3 commits them, and a steady
 * 100 transactions/s for 30 s. The burst is also run with no replicator, as
 * the writer's baseline.
 *
 * Per run: the replicator's CPU seconds and peak RSS, the time from the last
 * commit until the replica holds it, the replica's size, and a restore with
 * the tool's own CLI (wall time, MB/s, rows checked). The machine's disk
 * limits are measured in the same run. Results, with every run and the
 * median per tool: bench/results/compare-litestream.json.
 *
 *   node --import tsx bench/compare-litestream.bench.ts [--rounds=N] [--workloads=burst,steady]
 *
 * tidemark runs from dist/ (npx tsc -p tsconfig.build.json); TIDEMARK_CLI
 * (with TIDEMARK_COMMIT) measures another build, LITESTREAM_BIN another binary.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTimed } from './compare/cli-restore.js';
import { loadAverage1m } from './compare/proc-stats.js';
import { runOnce, type RunResult } from './compare/run-once.js';
import { RATIO_KEYS, TARGETS, summarize, type CompareResults } from './compare/figures.js';
import { median, round } from './compare/stats.js';
import { LITESTREAM, TIDEMARK, TIDEMARK_CLI, TOOLS, type Tool } from './compare/tools.js';
import { WORKLOADS } from './compare/workloads.js';
import { machineInfo, measureDiskLimits } from './machine.js';

const DEFAULT_ROUNDS = 3;
/** Start-up timings are the median of this many runs of `version`. */
const STARTUP_RUNS = 5;

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, 'results');

function argValue(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

/**
 * Which tidemark was measured: the checkout's own build, described by git,
 * or another build given as TIDEMARK_CLI, described by TIDEMARK_COMMIT.
 */
function tidemarkSource(): CompareResults['tidemarkSource'] {
  if (process.env.TIDEMARK_CLI !== undefined) return { cli: TIDEMARK_CLI, commit: process.env.TIDEMARK_COMMIT ?? 'unknown', srcChanged: false };
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: here, encoding: 'utf8' }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: join(here, '..'), encoding: 'utf8' });
    return { cli: TIDEMARK_CLI, commit, srcChanged: status.trim() !== '' };
  } catch {
    return { cli: TIDEMARK_CLI, commit: 'unknown', srcChanged: false };
  }
}

async function startupSeconds(tool: Tool): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < STARTUP_RUNS; i++) times.push(await runTimed(tool.startupArgv()));
  return round(median(times), 3);
}

async function main(): Promise<void> {
  const rounds = Number(argValue('rounds') ?? DEFAULT_ROUNDS);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds: expected a whole number >= 1, got ${argValue('rounds')}`);
  const names = (argValue('workloads') ?? WORKLOADS.map((w) => w.name).join(',')).split(',');
  const workloads = names.map((n) => {
    const w = WORKLOADS.find((x) => x.name === n);
    if (w === undefined) throw new Error(`--workloads: unknown workload "${n}" (expected ${WORKLOADS.map((x) => x.name).join(', ')})`);
    return w;
  });

  const versions = { tidemark: TIDEMARK.version(), litestream: LITESTREAM.version() };
  const source = tidemarkSource();
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-bench-compare-'));
  const loadBefore = loadAverage1m();
  const runs: RunResult[] = [];
  try {
    console.log(`${versions.tidemark} (${source.commit}${source.srcChanged ? ', src/ changed since' : ''}) vs Litestream ${versions.litestream}`);
    console.log('measuring the disk ...');
    const disk = measureDiskLimits(dir);
    console.log(disk);
    const startup = { tidemark: await startupSeconds(TIDEMARK), litestream: await startupSeconds(LITESTREAM) };
    for (let r = 1; r <= rounds; r++) {
      for (const workload of workloads) {
        const order = r % 2 === 1 ? TOOLS : [...TOOLS].reverse();
        const plan: (Tool | null)[] = workload.txPerSec === null ? [null, ...order] : [...order];
        for (const tool of plan) {
          console.log(`round ${r}/${rounds}: ${workload.name} with ${tool?.name ?? 'no replicator'} ...`);
          const result = await runOnce(tool, workload, r, dir);
          runs.push(result);
          const rep = result.replicator;
          console.log(
            `  writer ${result.writer.txPerSec} tx/s (${result.writer.transactions} tx), WAL max ${result.wal.maxMiB} MiB, ${result.wal.restarts} restarts` +
              (result.wal.replicatorReadMark0Share === null ? '' : `, read mark 0 ${Math.round(result.wal.replicatorReadMark0Share * 100)}%`) +
              (rep === undefined
                ? ''
                : `; CPU ${rep.cpuSeconds} s, peak RSS ${rep.peakRssMiB} MiB, catch-up ${rep.catchUpMs} ms, replica ${rep.replicaMiB} MiB` +
                  `; restore ${result.restore!.seconds} s (${result.restore!.mbPerSec} MB/s)`) +
              `; other load ${Math.round(result.otherLoad.share * 100)}%`,
          );
        }
      }
    }

    const shares = runs.map((r) => r.otherLoad.share);
    const results: CompareResults = {
      benchmark: 'compare-litestream',
      machine: machineInfo(),
      disk,
      versions,
      tidemarkSource: source,
      method: {
        replicate: 'each tool\'s CLI: tidemark replicate DB DIR / litestream replicate DB file://DIR, default settings (1 s sync interval)',
        writer: 'separate process, better-sqlite3, WAL, synchronous=NORMAL, default autocheckpoint, one ~100-byte row per transaction into a table with an index',
        order: 'tools alternate within a round and swap who goes first every round; the burst also runs with no replicator as the baseline',
        cpu: 'user+sys of the replicator process and anything it started, start to exit (final sync included), from bash `times` of its wrapper',
        peakRss: 'VmHWM from /proc/<pid>/status, read every 50 ms and just before SIGTERM',
        catchUp:
          'from the last commit until the replica holds the WAL up to that commit, read from the replica files: ' +
          'tidemark: an L0 LTX header whose WAL salts match and whose WAL offset+size reaches the last commit frame; ' +
          'Litestream: a wal/<index>_<offset>.wal.lz4 segment of the index whose WAL header has the same salts reaching that frame (lengths from the LZ4 frames); ' +
          'or, for either, a later WAL generation following it; polled every 10 ms',
        restore: "each tool's own restore CLI into a new file, wall time from spawn to exit (process start-up included), result checked for every row and quick_check",
        otherLoad: 'busy CPU of the whole machine during a run minus the replicator, the writer and the benchmark process',
      },
      config: { rounds, workloads: workloads.map((w) => ({ name: w.name, durationMs: w.durationMs, txPerSec: w.txPerSec })), replica: 'file' },
      startupSeconds: startup,
      targets: TARGETS,
      load: {
        loadAverage1mBefore: loadBefore,
        loadAverage1mAfter: loadAverage1m(),
        otherShareMedian: round(median(shares), 3),
        otherShareMax: round(Math.max(...shares), 3),
      },
      workloads: Object.fromEntries(workloads.map((w) => [w.name, summarize(w, runs)])),
      runs,
    };
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(join(resultsDir, 'compare-litestream.json'), `${JSON.stringify(results, null, 2)}\n`);
    for (const w of workloads) {
      const s = results.workloads[w.name]!;
      console.log(`\n${w.name}: ${w.description}`);
      const rows: Record<string, { tidemark: number; litestream: number; ratio: number | null }> = {};
      for (const k of RATIO_KEYS) rows[k] = { tidemark: s.tidemark[k], litestream: s.litestream[k], ratio: s.ratios[k] };
      console.table(rows);
    }
    console.log(`results: ${join(resultsDir, 'compare-litestream.json')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
