/**
 * Turns bench/results/*.json into bench/results/summary.md and the chart
 * bench/results/summary.svg (the tidemark / Litestream ratios). Run by
 * bench/run-all.ts after the benchmarks; also on its own:
 *
 *   node --import tsx bench/summary.ts
 *
 * Every statement in the summary, including where tidemark falls short, is
 * derived from the result files, so the text cannot drift from the figures.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CompareResults, ToolFigures, WorkloadSummary } from './compare/figures.js';
import { ratioChart, type RatioGroup } from './summary-chart.js';

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, 'results');
/** Other processes using more than this share of the CPUs during a run is called out as load. */
const NOTABLE_LOAD_SHARE = 0.1;
/** Writer throughputs further apart than this share mean the two tools handled different amounts of data. */
const UNEVEN_WORK = 0.1;
/** A replicator whose read transaction sat on read mark 0 in more than this share of samples is called out. */
const NOTABLE_MARK0_SHARE = 0.5;

type Json = Record<string, unknown>;

function readResult(name: string): Json | null {
  const path = join(resultsDir, `${name}.json`);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Json) : null;
}

const roundTo = (x: number, digits = 3): number => Number(x.toFixed(digits));
const pct = (x: number): string => `${Math.round(x * 100)}%`;
const times = (r: number | null): string => (r === null ? 'n/a' : `${r}x`);
const num = (x: unknown): string => (typeof x === 'number' ? x.toLocaleString('en-US', { maximumFractionDigits: 3 }) : String(x ?? 'n/a'));

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

interface Metric {
  key: keyof ToolFigures;
  label: string;
  better: 'lower' | 'higher';
  ratioKey?: keyof WorkloadSummary['ratios'];
  target?: (s: WorkloadSummary) => { text: string; met: boolean };
}

const METRICS: Metric[] = [
  { key: 'writerTxPerSec', label: 'writer tx/s', better: 'higher', ratioKey: 'writerTxPerSec' },
  { key: 'writerP99Ms', label: 'writer commit p99 (ms)', better: 'lower' },
  {
    key: 'cpuSeconds',
    label: 'replicator CPU (s, user+sys)',
    better: 'lower',
    ratioKey: 'cpuSeconds',
    target: (s) => ({ text: '<= 1x', met: s.meetsTargets.cpu }),
  },
  { key: 'cpuAfterStartupSeconds', label: 'replicator CPU after its first sync (s)', better: 'lower', ratioKey: 'cpuAfterStartupSeconds' },
  { key: 'cpuMsPerKTx', label: 'replicator CPU per 1000 tx (ms)', better: 'lower', ratioKey: 'cpuMsPerKTx' },
  { key: 'peakRssMiB', label: 'replicator peak RSS (MiB)', better: 'lower', ratioKey: 'peakRssMiB' },
  {
    key: 'catchUpMs',
    label: 'catch-up after the last commit (ms)',
    better: 'lower',
    ratioKey: 'catchUpMs',
    target: (s) => ({ text: '<= 1x', met: s.meetsTargets.catchUp }),
  },
  { key: 'replicaMiB', label: 'replica size (MiB)', better: 'lower', ratioKey: 'replicaMiB' },
  { key: 'restoredDbMiB', label: 'restored database (MiB)', better: 'lower' },
  { key: 'restoreSeconds', label: 'restore wall time (s)', better: 'lower', ratioKey: 'restoreSeconds' },
  {
    key: 'restoreMBps',
    label: 'restore speed (MB/s of database)',
    better: 'higher',
    ratioKey: 'restoreMBps',
    target: (s) => ({ text: '>= 2x', met: s.meetsTargets.restore }),
  },
  { key: 'walMaxMiB', label: 'largest WAL while writing (MiB)', better: 'lower' },
  { key: 'walRestarts', label: 'WAL restarts while writing', better: 'higher' },
  { key: 'readMark0Share', label: 'replicator read txn on read mark 0', better: 'lower' },
];

function workloadTable(s: WorkloadSummary, startup: CompareResults['startupSeconds']): string {
  const rows = METRICS.map((m) => {
    const t = s.tidemark[m.key];
    const l = s.litestream[m.key];
    const r = m.ratioKey === undefined ? null : s.ratios[m.ratioKey];
    const target = m.target?.(s);
    const fmt = (v: number): string => (m.key === 'readMark0Share' ? pct(v) : num(v));
    return [m.label, fmt(t), fmt(l), m.ratioKey === undefined ? '' : times(r), target === undefined ? '' : `${target.text}: ${target.met ? 'met' : '**missed**'}`];
  });
  // What the restore itself took, without starting the program (Node against a Go binary).
  const t = Math.max(0, s.tidemark.restoreSeconds - startup.tidemark);
  const l = Math.max(0, s.litestream.restoreSeconds - startup.litestream);
  const at = rows.findIndex((r) => r[0] === 'restore wall time (s)');
  rows.splice(at + 1, 0, ['restore less program start-up (s)', num(roundTo(t)), num(roundTo(l)), l === 0 ? 'n/a' : times(roundTo(t / l, 2)), '']);
  return table(['', 'tidemark', 'Litestream v0.3.13', 'tidemark / Litestream', 'target'], rows);
}

/** Plain statements of every target missed and every figure where tidemark does worse. */
function shortfalls(name: string, s: WorkloadSummary, startup: CompareResults['startupSeconds']): string[] {
  const out: string[] = [];
  const r = s.ratios;
  if (!s.meetsTargets.cpu) {
    out.push(
      `${name}: the replicator used ${times(r.cpuSeconds)} Litestream's CPU (${s.tidemark.cpuSeconds} s against ${s.litestream.cpuSeconds} s; target: no more than Litestream). ` +
        `Leaving out what each used up to its first sync (mostly process start-up: Node loading its modules), it is ${times(r.cpuAfterStartupSeconds)}.`,
    );
  }
  if (!s.meetsTargets.restore) {
    const t = s.tidemark.restoreSeconds - startup.tidemark;
    const l = s.litestream.restoreSeconds - startup.litestream;
    out.push(
      `${name}: restore ran at ${times(r.restoreMBps)} Litestream's speed (target: at least 2x) on a ${s.tidemark.restoredDbMiB} MiB database, ` +
        `where starting the program (${startup.tidemark} s for Node, ${startup.litestream} s for Litestream) is much of the time` +
        (t > 0 && l > 0 ? `; without it tidemark takes ${times(roundTo(t / l, 2))} Litestream's time.` : '.'),
    );
  }
  if (!s.meetsTargets.catchUp) {
    out.push(`${name}: the replica caught up ${s.tidemark.catchUpMs} ms after the last commit, Litestream's after ${s.litestream.catchUpMs} ms (target: no later).`);
  }
  if (r.cpuMsPerKTx !== null && r.cpuMsPerKTx > 1) out.push(`${name}: CPU per transaction replicated is ${times(r.cpuMsPerKTx)} Litestream's.`);
  if (r.writerTxPerSec !== null && r.writerTxPerSec < 1) {
    const alone = s.baseline === null ? '' : ` (${num(s.baseline.writerTxPerSec)} with no replicator)`;
    out.push(
      `${name}: the application committed ${num(s.tidemark.writerTxPerSec)} tx/s next to tidemark against ${num(s.litestream.writerTxPerSec)} next to Litestream${alone}: ${times(r.writerTxPerSec)}.`,
    );
  }
  if (r.peakRssMiB !== null && r.peakRssMiB > 1) out.push(`${name}: peak memory is ${s.tidemark.peakRssMiB} MiB against ${s.litestream.peakRssMiB} MiB (${times(r.peakRssMiB)}).`);
  if (r.replicaMiB !== null && r.replicaMiB > 1) out.push(`${name}: the replica is ${times(r.replicaMiB)} the size of Litestream's.`);
  return out;
}

function compareSection(c: CompareResults): string {
  const parts: string[] = [];
  const workloads = Object.entries(c.workloads);
  parts.push('## tidemark vs Litestream v0.3.13');
  parts.push(
    `${c.versions.tidemark} (commit ${c.tidemarkSource.commit}${c.tidemarkSource.srcChanged ? ', with uncommitted changes under src/' : ''}) ` +
      `against Litestream ${c.versions.litestream}, both replicating to a directory replica through their own CLI with default settings ` +
      `(1 s sync interval), taking turns in the same run, ${c.config.rounds} rounds each; figures are medians over the rounds ` +
      '(every round is in compare-litestream.json). Run it alone with `npm run bench:compare`.',
  );
  parts.push('![tidemark / Litestream ratios](summary.svg)');
  parts.push(
    `Targets: tidemark uses no more CPU than Litestream (ratio <= ${c.targets.cpuRatioMax}), restores at least ${c.targets.restoreSpeedupMin}x faster, ` +
      `and catches up no later (ratio <= ${c.targets.catchUpRatioMax}).`,
  );

  for (const [name, s] of workloads) {
    parts.push(`### ${name}: ${s.description}`);
    if (s.baseline !== null) {
      parts.push(`With no replicator the writer commits ${num(s.baseline.writerTxPerSec)} tx/s (largest WAL ${s.baseline.walMaxMiB} MiB).`);
    }
    parts.push(workloadTable(s, c.startupSeconds));
    const committed = s.ratios.writerTxPerSec;
    if (s.baseline !== null && committed !== null && Math.abs(committed - 1) > UNEVEN_WORK) {
      parts.push(
        'The burst commits as many transactions as the writer manages next to each replicator, so the two replicate and restore different amounts: ' +
          'CPU per 1000 transactions and restore MB/s are the figures that allow for it.',
      );
    }
  }

  parts.push('### Where tidemark falls short');
  const short = workloads.flatMap(([name, s]) => shortfalls(name, s, c.startupSeconds));
  parts.push(short.length === 0 ? 'Nowhere in this run: every target is met and no figure is worse than Litestream\'s.' : short.map((x) => `- ${x}`).join('\n'));

  const burst = c.workloads.burst;
  if (burst !== undefined && burst.tidemark.readMark0Share > NOTABLE_MARK0_SHARE && (burst.ratios.writerTxPerSec ?? 1) < 1) {
    parts.push('### Why the application commits more slowly next to tidemark');
    parts.push(
      `During the burst tidemark's long-running read transaction held WAL read mark 0 in ${pct(burst.tidemark.readMark0Share)} of the samples ` +
        `(Litestream's: ${pct(burst.litestream.readMark0Share)}). tidemark re-opens that transaction right after a checkpoint that copied the whole WAL, ` +
        'while it still holds the write lock, so its snapshot is "the database file, no WAL frames" (read mark 0). As long as such a reader exists, ' +
        'SQLite lets no checkpoint copy any WAL frame into the database file. The application\'s own automatic checkpoint ' +
        '(PASSIVE, attempted after every commit once the WAL passes 1000 pages) then sorts the index of every frame in the WAL before finding ' +
        'it may copy none, and that work grows with the WAL until tidemark\'s next checkpoint restarts it ' +
        `(largest WAL ${burst.tidemark.walMaxMiB} MiB, ${burst.tidemark.walRestarts} restarts in the burst). ` +
        'A CPU profile of the writer in this state (perf) puts most of its time in SQLite\'s walCheckpoint and walMerge. ' +
        (burst.litestream.readMark0Share < NOTABLE_MARK0_SHARE
          ? 'Litestream\'s reader sits on a later read mark, so the application\'s checkpoints copy up to it and then have nothing to sort; ' +
            `its writer pays instead for a WAL that grows to ${burst.litestream.walMaxMiB} MiB (${burst.litestream.walRestarts} restarts). `
          : '') +
        'A snapshot that includes at least one WAL frame (for example one taken after the `_litestream_seq` update that follows the checkpoint) avoids the mark-0 state.',
    );
  }

  parts.push('### How it is measured');
  const method = c.method;
  parts.push(
    [
      `- Writer: ${method.writer ?? ''}. Workloads: ${c.config.workloads.map((w) => `${w.name} (${w.durationMs / 1000} s, ${w.txPerSec === null ? 'as fast as possible' : `${w.txPerSec} tx/s`})`).join(', ')}.`,
      `- Replicators: ${method.replicate ?? ''}; ${method.order ?? ''}.`,
      `- CPU: ${method.cpu ?? ''}. Peak RSS: ${method.peakRss ?? ''}.`,
      `- Catch-up: ${method.catchUp ?? ''}. The same rule is applied to both replicas (has the WAL up to the last commit frame reached the replica?), read from each format's own files, so neither tool is asked and no restore runs while measuring; the polling costs the same 10 ms granularity for both.`,
      `- Restore: ${method.restore ?? ''}. Start-up alone (\`version\`): tidemark ${c.startupSeconds.tidemark} s (Node), Litestream ${c.startupSeconds.litestream} s.`,
      '- Replica size: every file under the replica directory after the replicator exited.',
      `- Machine load: ${method.otherLoad ?? ''}.`,
    ].join('\n'),
  );
  const load = c.load;
  if (load.otherShareMax > NOTABLE_LOAD_SHARE) {
    parts.push(
      `Other work was running on the machine during this run: other processes used a median ${pct(load.otherShareMedian)} and up to ${pct(load.otherShareMax)} ` +
        `of the CPUs during a run (1-minute load average ${load.loadAverage1mBefore} before, ${load.loadAverage1mAfter} after). On ${num(c.machine.cpus)} cores ` +
        'this competes with the writer and the replicator, so writer throughput, CPU-bound catch-up and restore times are noisier than on an idle machine; ' +
        'the per-run load is in compare-litestream.json.',
    );
  } else {
    parts.push(`The machine was otherwise quiet: other processes used at most ${pct(load.otherShareMax)} of the CPUs during a run.`);
  }
  return parts.join('\n\n');
}

function chartGroups(c: CompareResults): RatioGroup[] {
  return Object.entries(c.workloads).map(([name, s]) => ({
    title: `${name}: ${s.description}`,
    bars: [
      { label: 'replicator CPU (lower is better)', value: s.ratios.cpuSeconds, better: 'lower', target: c.targets.cpuRatioMax },
      { label: 'replicator CPU after start-up (lower is better)', value: s.ratios.cpuAfterStartupSeconds, better: 'lower' },
      { label: 'CPU per transaction (lower is better)', value: s.ratios.cpuMsPerKTx, better: 'lower' },
      { label: 'catch-up time (lower is better)', value: s.ratios.catchUpMs, better: 'lower', target: c.targets.catchUpRatioMax },
      { label: 'restore speed (higher is better)', value: s.ratios.restoreMBps, better: 'higher', target: c.targets.restoreSpeedupMin },
      { label: 'peak RSS (lower is better)', value: s.ratios.peakRssMiB, better: 'lower' },
      { label: 'replica size (lower is better)', value: s.ratios.replicaMiB, better: 'lower' },
      { label: 'application tx/s (higher is better)', value: s.ratios.writerTxPerSec, better: 'higher' },
    ],
  }));
}

function ltxSection(r: Json): string {
  const h = (r.headline ?? {}) as Json;
  const met = (r.meetsTargets ?? {}) as Json;
  const targets = (r.targets ?? {}) as Json;
  return [
    '## LTX codec (ltx.json)',
    table(
      ['', 'MB/s', 'target'],
      [
        ['encode, one thread', num(h.encodeMBps), `${num(targets.encodeMBps)}: ${met.encodeSingleThread === true ? 'met' : '**missed**'}`],
        ['encode, parallel', num(h.encodeParallelMBps), `${num(targets.encodeMBps)}: ${met.encodeParallel === true ? 'met' : '**missed**'}`],
        ['decode, one thread', num(h.decodeMBps), `${num(targets.decodeMBps)}: ${met.decodeSingleThread === true ? 'met' : '**missed**'}`],
        ['CRC-64', num(h.crc64MBps), `${num(targets.crc64MBps)}: ${met.crc64 === true ? 'met' : '**missed**'}`],
      ],
    ),
  ].join('\n\n');
}

function eventlogSection(r: Json): string {
  const measured = (r.measured ?? {}) as Json;
  const targets = (r.targets ?? {}) as Json;
  const met = (r.meetsTargets ?? {}) as Json;
  const rows = Object.keys(targets).map((k) => [k, num(measured[k]), num(targets[k]), met[k] === true ? 'met' : '**missed**']);
  return ['## Event log (eventlog.json)', table(['', 'measured', 'target', ''], rows)].join('\n\n');
}

/** "p50 / p99 / max" of a spread in replicate.json, or undefined when the file predates it. */
function spreadText(x: unknown): string | undefined {
  if (x === null || typeof x !== 'object') return undefined;
  const s = x as Json;
  return `${num(s.p50)} / ${num(s.p99)} / ${num(s.max)}`;
}

/** "busy of attempts" for one deferred-writer run. */
function busyText(x: unknown): string {
  if (x === null || typeof x !== 'object') return 'n/a';
  const d = x as Json;
  return `${num(d.busy)} of ${num(d.attempts)}`;
}

/** The freshness and application-effect rows; none for a replicate.json from before they were measured. */
function replicateEffectRows(r: Json): string[][] {
  const rows: string[][] = [];
  const without = r.throughputWithout as Json | undefined;
  const withR = r.throughputWith as Json | undefined;
  if (without !== undefined && withR !== undefined) {
    const each = (t: Json): string => (Array.isArray(t.txPerSec) ? t.txPerSec.map(num).join(', ') : 'n/a');
    rows.push([`writer tx/s with no replicator (median of ${num(without.runs)}: ${each(without)})`, num(without.medianTxPerSec)]);
    rows.push([`writer tx/s next to the replicator (median of ${num(withR.runs)}: ${each(withR)})`, num(withR.medianTxPerSec)]);
    rows.push(['writer tx/s next to the replicator / without', times(typeof withR.ratioToWithout === 'number' ? withR.ratioToWithout : null)]);
  }
  const freshness = r.freshness as Json | undefined;
  const gap = freshness?.l0Gap as Json | undefined;
  const gapText = spreadText(gap?.gapMs);
  if (gap !== undefined && gapText !== undefined) {
    rows.push([`gap between L0 files during the burst, p50 / p99 / max (ms; ${num(gap.filesInWindow)} files, ${num(gap.syncIntervalMs)} ms sync interval)`, gapText]);
  }
  const stale = freshness?.timestampRestore as Json | undefined;
  const staleText = spreadText(stale?.stalenessMs);
  if (stale !== undefined && staleText !== undefined) {
    const errors = Array.isArray(stale.errors) ? stale.errors.length : 0;
    rows.push([
      `staleness of a restore to a time within the burst, p50 / p99 / max (ms; ${num(stale.samples)} restores)`,
      errors === 0 ? staleText : `${staleText} (**${errors} errors**)`,
    ]);
  }
  const exit = r.exitToReplicaMs as Json | undefined;
  if (exit !== undefined) {
    const each = Array.isArray(exit.each) ? exit.each.map((x) => (x === null ? 'failed' : num(x))).join(', ') : 'n/a';
    const failures = Array.isArray(exit.failures) ? exit.failures.length : 0;
    rows.push([
      `application's last commit on the replica after it exits (ms, median of ${num(exit.runs)}: ${each})`,
      failures === 0 ? num(exit.median) : `${num(exit.median)} (**${failures} runs failed**)`,
    ]);
  }
  const deferred = r.deferredWriter as Json | undefined;
  if (deferred !== undefined) {
    const label = `deferred read-then-write transactions failing with SQLITE_BUSY (busy_timeout ${num(deferred.busyTimeoutMs)})`;
    rows.push([`${label}: next to the burst and the replicator`, busyText(deferred.withBurstAndReplicator)]);
    rows.push([`${label}: next to the burst, no replicator`, busyText(deferred.withBurstNoReplicator)]);
    rows.push([`${label}: next to the replicator only (target: 0)`, busyText(deferred.aloneWithReplicator)]);
  }
  return rows;
}

function replicateSection(r: Json): string {
  const w = (r.writer ?? {}) as Json;
  const rep = (r.replicator ?? {}) as Json;
  const replica = (r.replica ?? {}) as Json;
  const restore = (r.restore ?? {}) as Json;
  const errors = Array.isArray(r.errors) ? (r.errors as unknown[]).map(String) : [];
  const load = r.load as Json | undefined;
  const loadText = load === undefined ? '' : ` The machine's 1-minute load average was ${num(load.loadAverage1mBefore)} before the run and ${num(load.loadAverage1mAfter)} after it.`;
  return [
    '## Replication of a write burst, writer in the benchmark process (replicate.json, file replica)',
    'The application and tidemark\'s replicator (library API, separate process) during a 10 s burst; see the comparison above for the same through the CLIs.' + loadText,
    table(
      ['', ''],
      [
        ['writer tx/s', num(w.txPerSec)],
        ['replicator CPU (s)', num(rep.cpuSeconds)],
        ['replicator peak RSS (MiB)', num(rep.peakRssMiB)],
        ['catch-up (ms)', num(replica.catchUpMs)],
        ['replica (MiB)', num(replica.mib)],
        ['restore (s, in process)', num(restore.seconds)],
        ['restore MB/s', num(restore.mbPerSec)],
        ...replicateEffectRows(r),
      ],
    ),
    ...(errors.length === 0 ? [] : [`Errors in this run:\n${errors.map((e) => `- ${e}`).join('\n')}`]),
  ].join('\n\n');
}

function idleSection(r: Json): string {
  const requests = (r.replicaRequests ?? {}) as Json;
  const total = Object.values(requests).reduce<number>((n, v) => n + (typeof v === 'number' ? v : 0), 0);
  return [
    '## Idle databases (idle.json)',
    table(
      ['', ''],
      [
        ['databases in one process', num(r.databases)],
        ['idle window (s)', num(typeof r.windowMs === 'number' ? r.windowMs / 1000 : undefined)],
        ['replica requests in the window', num(total)],
        ['CPU (% of one core)', num(r.cpuPercentOfOneCore)],
        ['RSS (MiB)', num(r.rssMiB)],
      ],
    ),
  ].join('\n\n');
}

function machineLine(m: Json): string {
  return `${num(m.cpus)} x ${String(m.cpuModel)}, ${num(m.memoryGiB)} GiB, ${String(m.platform)}, Node ${String(m.node)}`;
}

function main(): void {
  const compare = readResult('compare-litestream') as CompareResults | null;
  const ltx = readResult('ltx');
  const eventlog = readResult('eventlog');
  const replicate = readResult('replicate');
  const idle = readResult('idle');
  const parts: string[] = ['# Benchmark summary'];
  parts.push('Generated by `bench/summary.ts` (run by `npm run bench`) from the JSON files next to it; each file also records its own machine and date.');
  const machine = (compare?.machine ?? ltx?.machine ?? replicate?.machine) as Json | undefined;
  if (machine !== undefined) parts.push(`Machine: ${machineLine(machine)}.`);
  if (compare !== null) {
    const d = compare.disk;
    parts.push(
      `Disk limits, measured in the comparison's run on the file system it used: sequential write with fsync ${num(d.seqWriteFsyncMBps)} MB/s; ` +
        `fdatasync ${num(d.fdatasyncAppendPerSec)} calls/s appending 4 KiB, ${num(d.fdatasyncOverwritePerSec)} calls/s overwriting 4 KiB.`,
    );
    parts.push(compareSection(compare));
    const svg = ratioChart(
      `tidemark / Litestream ${compare.versions.litestream}`,
      `median of ${compare.config.rounds} rounds per tool, directory replica, default settings, ${compare.machine.cpus} CPUs`,
      chartGroups(compare),
    );
    writeFileSync(join(resultsDir, 'summary.svg'), svg);
  }
  if (ltx !== null) parts.push(ltxSection(ltx));
  if (eventlog !== null) parts.push(eventlogSection(eventlog));
  if (replicate !== null) parts.push(replicateSection(replicate));
  if (idle !== null) parts.push(idleSection(idle));
  writeFileSync(join(resultsDir, 'summary.md'), `${parts.join('\n\n')}\n`);
  console.log(`summary: ${join(resultsDir, 'summary.md')}`);
}

main();
