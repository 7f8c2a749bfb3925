/**
 * The bounded CI run of the replication torture harness (torture/): real
 * application processes (better-sqlite3 and the sqlite3 shell) write a
 * deterministic model while the built CLI daemon replicates, is killed with
 * SIGKILL, stopped with SIGTERM and restarted, on a machine loaded by a CPU
 * hog per core. Then every L0 TXID must restore to a state the application
 * committed, and the latest restore must be the source. A random seed each
 * run unless TIDEMARK_TORTURE_SEED is set; a failure prints it.
 * `npm run soak` runs the same cycles for as long as one likes.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { formatFilename } from '../../src/ltx/file-name.js';
import { applyOps } from './torture/apply-ops.js';
import { LOG_TABLE } from './torture/blob.js';
import type { RunContext } from './torture/context.js';
import { generateOps } from './torture/ops.js';
import { listL0 } from './torture/replica-files.js';
import { formatSummary, reproduceTest } from './torture/report.js';
import { killAllChildren } from './torture/processes.js';
import { runTorture } from './torture/run.js';
import { FIRST_TABLE } from './torture/schema.js';
import { seedFromEnv } from './torture/seeds.js';

/** A few cycles of 6 s writer windows: about a minute on a 2-core machine, checks included. */
const CYCLES = 4;
const WINDOW_MS = 6000;
/** No new cycle starts after this (a slow machine still ends with its checks). */
const CYCLE_BUDGET_MS = 75_000;
const TEST_TIMEOUT_MS = 240_000;
/** The checker's own test: one short cycle, no hogs; it only has to produce a replica to break. */
const SABOTAGE_WINDOW_MS = 2500;
const SABOTAGE_TIMEOUT_MS = 120_000;

const seed = seedFromEnv();
console.log(`torture seed ${seed} (reproduce: ${reproduceTest(seed)})`);

describe('replication torture: crashed, restarted and stopped daemon under real applications on a loaded machine', () => {
  // A test that timed out leaves its run going; its writers, daemon and hogs go now, not when the process ends.
  after(() => killAllChildren());

  it('every L0 TXID restores to a state the applications committed, and the latest restore is the source', { timeout: TEST_TIMEOUT_MS }, async () => {
    const summary = await runTorture({
      seed,
      cycles: CYCLES,
      checkEvery: CYCLES,
      windowMs: WINDOW_MS,
      deadline: Date.now() + CYCLE_BUDGET_MS,
      onProgress: (p) => console.log(`torture cycle ${p.cycle}${p.checked ? ' (checked)' : ''}: ${p.stats.commits} commits, ${p.failures.length} failures`),
    });
    const report = formatSummary(summary, reproduceTest(seed));
    console.log(report);
    assert.ok(summary.stats.commits > 0, `the applications committed nothing\n${report}`);
    assert.ok(summary.stats.l0Checked > 0, `no L0 TXID was checked\n${report}`);
    assert.ok(summary.stats.restores > summary.stats.l0Checked, `the latest restore did not run\n${report}`);
    assert.deepEqual(summary.failures.map((f) => `[${f.kind}] cycle ${f.cycle}: ${f.message}`), [], report);
  });

  it('the checks catch a replica that is missing commits, has a gap or a leftover, and a source that is not the model', { timeout: SABOTAGE_TIMEOUT_MS }, async () => {
    let sabotaged = false;
    const summary = await runTorture({
      seed,
      cycles: 1,
      checkEvery: 1,
      windowMs: SABOTAGE_WINDOW_MS,
      hogs: 0,
      beforeFinalCheck: async (ctx) => {
        await sabotage(ctx);
        sabotaged = true;
      },
    });
    try {
      const report = formatSummary(summary, reproduceTest(seed));
      assert.ok(sabotaged, 'the sabotage hook did not run');
      const found = (kind: string, re: RegExp): boolean => summary.failures.some((f) => f.kind === kind && re.test(f.message));
      assert.ok(found('source', /SOURCE does not match the model/), `the source check missed a row outside the model\n${report}`);
      assert.ok(found('replica-layout', /temporary file left/), `the layout check missed a .tmp file\n${report}`);
      assert.ok(found('replica-layout', /jump from|are missing/), `the layout check missed a TXID gap\n${report}`);
      assert.ok(found('replica-state', /^the latest restore/), `the latest-restore check missed commits the replica does not have\n${report}`);
      assert.ok(summary.kept && existsSync(summary.dir), 'a failed run keeps its directory');
      assert.match(report, new RegExp(`TIDEMARK_TORTURE_SEED=${seed} `), 'a failure report says how to reproduce it');
    } finally {
      await rm(summary.dir, { recursive: true, force: true });
    }
  });
});

/**
 * Breaks what the checks look at, after the catch-up and with the daemon
 * stopped: one more commit the replica never sees, a row outside the model in
 * the source, an L0 file moved past a gap, and a stray .tmp in the replica.
 */
async function sabotage(ctx: RunContext): Promise<void> {
  const db = new Database(ctx.dbPath, { timeout: 5000 });
  try {
    db.exec('BEGIN IMMEDIATE');
    const max = (db.prepare(`SELECT coalesce(max(seq), 0) AS m FROM ${LOG_TABLE}`).get() as { m: number }).m;
    ctx.history.advanceTo(max);
    const ops = generateOps(ctx.cfg, max + 1, ctx.history.model);
    applyOps(db, ctx.cfg, max + 1, ops);
    db.prepare(`INSERT INTO ${FIRST_TABLE} (id, v) VALUES (-1, X'00')`).run();
    db.exec('COMMIT');
    ctx.maxCommittedSeq = max + 1;
  } finally {
    db.close();
  }
  const { files } = await listL0(ctx.replicaDir);
  const last = files[files.length - 1];
  assert.ok(last !== undefined, 'the replica has L0 files to break');
  const dir = join(ctx.replicaDir, 'ltx', '0');
  const gapName = formatFilename(last.maxTxid + 2n, last.maxTxid + 2n);
  await writeFile(join(dir, gapName), await readFile(join(dir, last.name)));
  await writeFile(join(dir, `${last.name}.tmp`), 'half an upload');
}
