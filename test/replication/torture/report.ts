/** How a run reads to a person: the counters, and each failure with what reproduces it. */
import type { Failure } from './context.js';
import { SEED_ENV } from './seeds.js';
import type { TortureProgress, TortureSummary } from './run.js';

/** Failures shown in full; the rest are counted by kind. */
const MAX_FAILURES_SHOWN = 10;
/** Detail lines shown per failure. */
const MAX_DETAIL_LINES = 20;

export function formatProgress(p: TortureProgress): string {
  const s = p.stats;
  return (
    `seed ${p.seed}: ${s.cycles} cycles, ${s.commits} commits by ${s.writers} writers (${s.shellWriters} sqlite3 shell, ${s.perTransactionWriters} connection-per-transaction), ` +
    `${s.checkpoints} checkpoints, ${s.vacuums} VACUUMs; daemon ${s.daemonStarts} starts, ${s.sigkills} SIGKILL, ${s.sigterms} SIGTERM; ` +
    `${s.checks} checks: ${s.l0Checked} L0 TXIDs checked, ${s.restores} restores` +
    (s.l0Rewritten > 0 ? `, ${s.l0Rewritten} L0 files rewritten` : '') +
    (s.l0Retired > 0 ? `, ${s.l0Retired} retired by L0 retention` : '') +
    `; ${p.failures.length} failures${byKind(p.failures)}; ${secs(p.elapsedMs)} s (catch-up ${secs(s.catchUpMs)} s, checks ${secs(s.checkMs)} s)`
  );
}

export function formatSummary(r: TortureSummary, reproduce: string): string {
  const lines = [
    `torture summary: ${formatProgress(r)}`,
    `  page size ${r.pageSize}, final max(seq) ${r.maxSeq}, ${r.hogs} CPU hogs, ${r.daemonErrorLines} daemon level=ERROR lines`,
  ];
  if (r.failures.length === 0) return lines.join('\n');
  lines.push(`  FAILED: ${r.failures.length} failures. Reproduce with: ${reproduce}`, `  temporary directory kept: ${r.dir}`);
  for (const f of r.failures.slice(0, MAX_FAILURES_SHOWN)) lines.push(formatFailure(f, r.seed));
  if (r.failures.length > MAX_FAILURES_SHOWN) lines.push(`  … and ${r.failures.length - MAX_FAILURES_SHOWN} more${byKind(r.failures.slice(MAX_FAILURES_SHOWN))}`);
  const tail = r.failures[0]!.daemonTail;
  lines.push('  replicator stderr tail at the first failure:', ...tail.split('\n').map((l) => `    | ${l}`));
  return lines.join('\n');
}

export function formatFailure(f: Failure, seed: number): string {
  // integrity_check answers in several lines; each stays indented under its failure.
  const details = f.details.slice(0, MAX_DETAIL_LINES).flatMap((d) => d.split('\n').map((l) => `      ${l}`));
  if (f.details.length > MAX_DETAIL_LINES) details.push(`      … ${f.details.length - MAX_DETAIL_LINES} more lines`);
  return [`  - [${f.kind}] seed ${seed}, cycle ${f.cycle}: ${f.message}`, ...details].join('\n');
}

export function reproduceTest(seed: number): string {
  return `${SEED_ENV}=${seed} node scripts/run-tests.mjs torture`;
}

export function reproduceSoak(seed: number, cycles: number, checkEvery: number): string {
  return `npm run soak -- --seed ${seed} --cycles ${cycles} --check-every ${checkEvery}`;
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(0);
}

function byKind(failures: readonly Failure[]): string {
  if (failures.length === 0) return '';
  const counts = new Map<string, number>();
  for (const f of failures) counts.set(f.kind, (counts.get(f.kind) ?? 0) + 1);
  return ` (${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')})`;
}
