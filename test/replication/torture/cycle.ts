/**
 * One cycle of the torture: for a window of time, two or three slots of
 * application processes (each a succession of short-lived writers, one of
 * them the sqlite3 shell in some cycles) write the model's transactions,
 * while the replicator daemon is started, killed with SIGKILL or stopped with
 * SIGTERM, left dead for a while, and started again. The cycle ends with
 * every writer gone and the daemon dead; its whole schedule comes from
 * (seed, cycle).
 */
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { seededRandom } from '../../../src/seeded-random.js';
import { fail, type RunContext } from './context.js';
import { stoppedCleanly } from './daemon.js';
import { maxL0Txid } from './replica-files.js';
import { between, mixSeed } from './seeds.js';
import { runWriter, type WriterKind, type WriterOutcome } from './writers.js';

/** Salt of the cycle schedule's PRNG. */
const CYCLE_SALT = 0xc1c1e;
/** Writer slots running at once. */
const MIN_SLOTS = 2;
const MAX_SLOTS = 3;
/** Cycles in which one slot is the sqlite3 shell. */
const P_SHELL_CYCLE = 0.5;
/** How long one writer process writes, and the pause before the slot's next one starts. */
const WRITER_MIN_MS = 300;
const WRITER_MAX_MS = 3000;
const SLOT_GAP_MAX_MS = 800;
/**
 * Some lives end while the daemon starts up (a random moment after spawn);
 * the others once it replicates, a random while later. Measured from
 * readiness, not spawn: a loaded machine takes seconds to start Node.
 */
const P_KILL_DURING_STARTUP = 0.2;
const STARTUP_KILL_MAX_MS = 1500;
const DAEMON_LIFE_MIN_MS = 0;
const DAEMON_LIFE_MAX_MS = 3000;
/** A daemon not ready after this long is killed anyway (and the life counted as one killed during start-up). */
const READY_TIMEOUT_MS = 20_000;
/** How long it stays dead while the applications go on. */
const DAEMON_DEAD_MIN_MS = 100;
const DAEMON_DEAD_MAX_MS = 2000;
/** Share of daemon lives that end with SIGTERM (orderly) rather than SIGKILL. */
const P_SIGTERM = 0.25;
/** stderr lines a daemon that exited on its own shows in its failure. */
const EXIT_TAIL_LINES = 6;
/** Writer n of slot i is process i + n × PROCS_PER_SLOT: every process of a cycle seeds a PRNG of its own. */
const PROCS_PER_SLOT = 1000;

export interface CycleOptions {
  /** How long writers are started for. */
  readonly windowMs: number;
}

export async function runCycle(ctx: RunContext, cycle: number, opts: CycleOptions): Promise<void> {
  const random = seededRandom(mixSeed(ctx.seed, cycle, CYCLE_SALT));
  const slots = between(random, MIN_SLOTS, MAX_SLOTS);
  const shellSlot = random() < P_SHELL_CYCLE ? 0 : -1;
  // Each slot and the daemon get PRNGs of their own, so one's timing does not shift another's draws.
  const slotSeeds = Array.from({ length: slots }, () => Math.floor(random() * 2 ** 32));
  const daemonSeed = Math.floor(random() * 2 ** 32);

  ctx.history.advanceTo(ctx.maxCommittedSeq);
  await writeFile(ctx.snapshotPath, JSON.stringify(ctx.history.model.toSnapshot()));

  const windowEnd = Date.now() + opts.windowMs;
  const slotTasks = slotSeeds.map((s, i) => runSlot(ctx, cycle, i, i === shellSlot ? 'shell' : 'node', seededRandom(s), windowEnd));
  const daemonTask = runDaemonLives(ctx, cycle, seededRandom(daemonSeed), windowEnd);
  const outcomes = (await Promise.all(slotTasks)).flat();
  await daemonTask;

  for (const o of outcomes) record(ctx, cycle, o);
  ctx.cycleEndTxids[cycle] = await maxL0Txid(ctx.replicaDir);
  ctx.stats.cycles++;
}

async function runSlot(ctx: RunContext, cycle: number, slot: number, kind: WriterKind, random: () => number, windowEnd: number): Promise<WriterOutcome[]> {
  const outcomes: WriterOutcome[] = [];
  for (let n = 0; ; n++) {
    await sleep(between(random, 0, SLOT_GAP_MAX_MS));
    const left = windowEnd - Date.now();
    if (left <= 0) break;
    const durationMs = Math.min(left, between(random, WRITER_MIN_MS, WRITER_MAX_MS));
    const spec = {
      dbPath: ctx.dbPath,
      seed: ctx.seed,
      pageSize: ctx.cfg.pageSize,
      proc: slot + n * PROCS_PER_SLOT,
      cycle,
      durationMs,
      snapshotPath: ctx.snapshotPath,
    };
    outcomes.push(
      await runWriter(kind, spec, (seq) => {
        if (seq > ctx.maxCommittedSeq) ctx.maxCommittedSeq = seq;
      }),
    );
  }
  return outcomes;
}

async function runDaemonLives(ctx: RunContext, cycle: number, random: () => number, windowEnd: number): Promise<void> {
  const d = ctx.daemon;
  while (Date.now() < windowEnd) {
    // Every draw is made up front, so how long the daemon takes to start does not shift later ones.
    const duringStartup = random() < P_KILL_DURING_STARTUP;
    const startupKillMs = between(random, 0, STARTUP_KILL_MAX_MS);
    const lifeMs = between(random, DAEMON_LIFE_MIN_MS, DAEMON_LIFE_MAX_MS);
    const term = random() < P_SIGTERM;
    const deadMs = between(random, DAEMON_DEAD_MIN_MS, DAEMON_DEAD_MAX_MS);
    d.start(`cycle ${cycle}`);
    ctx.stats.daemonStarts++;
    // Lives and deaths end with the window: after it the writers are finishing, and the cycle should too.
    if (duringStartup) {
      await sleep(startupKillMs);
    } else if (await d.waitReady(READY_TIMEOUT_MS)) {
      await sleep(Math.max(0, Math.min(lifeMs, windowEnd - Date.now())));
    }
    if (!d.running) {
      fail(ctx, 'daemon-exit', cycle, `the daemon exited on its own (life ${d.lives})`, [JSON.stringify(d.unexpectedExits.at(-1) ?? {}), ...d.tail(EXIT_TAIL_LINES).split('\n')]);
    } else if (term) {
      ctx.stats.sigterms++;
      const r = await d.stop();
      if (!stoppedCleanly(r)) {
        fail(ctx, 'daemon-stop', cycle, `SIGTERM: the daemon ${r.hung ? 'did not exit in time and was killed' : `exited with code=${r.code} signal=${r.signal}`}`, d.tail(EXIT_TAIL_LINES).split('\n'));
      }
    } else {
      ctx.stats.sigkills++;
      await d.kill();
    }
    await sleep(Math.max(0, Math.min(deadMs, windowEnd - Date.now())));
  }
}

function record(ctx: RunContext, cycle: number, o: WriterOutcome): void {
  const s = ctx.stats;
  s.writers++;
  if (o.kind === 'shell') s.shellWriters++;
  if (o.habits?.['perTransaction'] === true) s.perTransactionWriters++;
  s.commits += o.commits;
  s.checkpoints += o.checkpoints;
  s.vacuums += o.vacuums;
  const who = `${o.kind} writer ${o.proc} (${JSON.stringify(o.habits ?? {})})`;
  for (const e of o.errors) {
    const busy = e.code.startsWith('SQLITE_BUSY');
    fail(
      ctx,
      busy ? 'app-busy' : 'app-error',
      cycle,
      `${who}: ${e.what}${e.seq === undefined ? '' : ` of seq ${e.seq}`} failed with ${e.code}: ${e.message}` +
        (busy ? ' (an application transaction failed because the database was busy: the replicator must never cause that)' : ''),
    );
  }
  if (o.crashed !== undefined) fail(ctx, 'writer-crash', cycle, o.crashed);
}
