/**
 * The orderly catch-up before a check: with the applications stopped, the
 * daemon is started, left to run until the replica's newest L0 TXID has not
 * changed for a while, and stopped with SIGTERM, which must end it with exit
 * code 0. After that the replica must hold everything the source holds.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fail, type RunContext } from './context.js';
import { stoppedCleanly } from './daemon.js';
import { maxL0Txid } from './replica-files.js';

/** How long the newest TXID must stay put (many sync intervals) before the replica counts as caught up. */
const STABLE_MS = 2000;
const POLL_MS = 100;
/** Generous: a loaded machine starts Node slowly, and a full image of the database may be due. */
const READY_TIMEOUT_MS = 30_000;
const SETTLE_TIMEOUT_MS = 60_000;
/** stderr lines a daemon that exited on its own shows in its failure. */
const EXIT_TAIL_LINES = 6;

export async function catchUp(ctx: RunContext, cycle: number): Promise<void> {
  const d = ctx.daemon;
  d.start(`catch-up after cycle ${cycle}`);
  ctx.stats.daemonStarts++;
  if (!(await d.waitReady(READY_TIMEOUT_MS))) {
    fail(ctx, 'catch-up', cycle, `the catch-up daemon ${d.running ? `did not log that it replicates within ${READY_TIMEOUT_MS} ms` : 'exited before it replicated'}`);
  }
  let last = await maxL0Txid(ctx.replicaDir);
  let since = Date.now();
  const settleBy = Date.now() + SETTLE_TIMEOUT_MS;
  while (d.running && Date.now() - since < STABLE_MS && Date.now() < settleBy) {
    await sleep(POLL_MS);
    const now = await maxL0Txid(ctx.replicaDir);
    if (now !== last) {
      last = now;
      since = Date.now();
    }
  }
  if (!d.running) {
    fail(ctx, 'daemon-exit', cycle, 'the catch-up daemon exited on its own', [JSON.stringify(d.unexpectedExits.at(-1) ?? {}), ...d.tail(EXIT_TAIL_LINES).split('\n')]);
    return;
  }
  if (Date.now() - since < STABLE_MS) fail(ctx, 'catch-up', cycle, `the replica's newest TXID was still changing after ${SETTLE_TIMEOUT_MS} ms (at ${last})`);
  ctx.stats.sigterms++;
  const r = await d.stop();
  if (!stoppedCleanly(r)) {
    fail(ctx, 'daemon-stop', cycle, `catch-up SIGTERM: the daemon ${r.hung ? 'did not exit in time and was killed' : `exited with code=${r.code} signal=${r.signal}`}`);
  }
}
