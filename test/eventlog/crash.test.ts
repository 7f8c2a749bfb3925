// Crash testing with real processes: a child appends continuously and reports
// what it has been acknowledged; the parent SIGKILLs it at random moments,
// reopens the log and checks that nothing acknowledged was lost, nothing
// appears twice or out of order, and appending continues where it should.
import { seededRandom } from '../../src/seeded-random.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EventLog } from '../../src/eventlog/index.js';
import { crashEvent, CRASH_LOG_OPTIONS } from './fixtures/crash-events.js';
import { sameEvent, withTempDir } from './helpers.js';

const CYCLES = 60;
const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'crash-child.ts');


interface ChildRun {
  acked: Map<bigint, bigint>;
  checkpoints: bigint[];
  sawReady: boolean;
}

/** Runs the child until it is killed; `when` picks the kill moment. */
function runChild(dir: string, run: number, killAfterMs: number, killAt: 'opening' | 'ready'): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(run)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const result: ChildRun = { acked: new Map(), checkpoints: [], sawReady: false };
    let pending = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      timer ??= setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const [kind, a, b] = line.split(' ');
        if (kind === 'opening' && killAt === 'opening') arm();
        else if (kind === 'ready') {
          result.sawReady = true;
          if (killAt === 'ready') arm();
        } else if (kind === 'a') result.acked.set(BigInt(a!), BigInt(b!));
        else if (kind === 'c') result.checkpoints.push(BigInt(a!));
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A child that dies on its own (instead of by our kill) is a failure.
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve(result);
      else reject(new Error(`child exited by itself (code ${code}, signal ${signal}): ${stderr}`));
    });
    child.on('error', reject);
  });
}

test(`SIGKILL at random moments, ${CYCLES} cycles: acknowledged appends survive with their seqs`, { timeout: 170_000 }, async () => {
  const seed = Number(process.env.TIDEMARK_CRASH_SEED ?? Date.now() % 1_000_000);
  const random = seededRandom(seed);
  await withTempDir(async (dir) => {
    /** Every acknowledged event not yet covered by a checkpoint the parent has seen: seq -> entity id. */
    const model = new Map<bigint, bigint>();
    let ackedCheckpoint = 0n;
    let totalAcked = 0;
    let killsBeforeReady = 0;

    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const ctx = `seed ${seed}, cycle ${cycle}`;
      const early = cycle % 5 === 4;
      const delay = early ? Math.floor(random() * 40) : 1 + Math.floor(random() * 200);
      const run = await runChild(dir, cycle + 1, delay, early ? 'opening' : 'ready');
      if (!run.sawReady) killsBeforeReady++;
      for (const [seq, id] of run.acked) {
        assert.ok(!model.has(seq) || model.get(seq) === id, `${ctx}: seq ${seq} acknowledged twice for different events`);
        model.set(seq, id);
      }
      totalAcked += run.acked.size;
      for (const cp of run.checkpoints) if (cp > ackedCheckpoint) ackedCheckpoint = cp;

      const { log, replayed, recovery } = await EventLog.open({ dir, ...CRASH_LOG_OPTIONS });
      assert.ok(recovery.checkpointSeq >= ackedCheckpoint, `${ctx}: acknowledged checkpoint ${ackedCheckpoint} lost`);
      assert.equal(recovery.missingTail, null, `${ctx}: nothing acknowledged may be missing`);
      const cp = recovery.checkpointSeq;

      // In order, gap-free after the checkpoint, each event whole and present once.
      const seen = new Set<bigint>();
      replayed.forEach((e, i) => {
        assert.equal(e.seq, cp + 1n + BigInt(i), `${ctx}: replay is contiguous after the checkpoint`);
        assert.ok(sameEvent(e, crashEvent(e.entityId)), `${ctx}: event seq ${e.seq} is intact`);
        assert.ok(!seen.has(e.entityId), `${ctx}: entity ${e.entityId} appears twice`);
        seen.add(e.entityId);
        const known = model.get(e.seq);
        if (known !== undefined) assert.equal(e.entityId, known, `${ctx}: seq ${e.seq} holds the acknowledged event`);
      });
      // Every acknowledged event after the checkpoint is there with its seq.
      for (const [seq, id] of model) {
        if (seq <= cp) {
          model.delete(seq);
          continue;
        }
        const e = replayed[Number(seq - cp - 1n)];
        assert.ok(e && e.seq === seq && e.entityId === id, `${ctx}: acknowledged seq ${seq} (entity ${id}) is missing`);
      }
      // Events that were in flight at the kill and made it are now acknowledged history.
      for (const e of replayed) model.set(e.seq, e.entityId);

      const lastSeq = replayed.length > 0 ? replayed[replayed.length - 1]!.seq : cp;
      assert.equal(recovery.nextSeq, lastSeq + 1n, `${ctx}: next seq follows the last event`);
      const probeId = (1_000_000n << 32n) | BigInt(cycle);
      const seq = await log.append(crashEvent(probeId));
      assert.equal(seq, lastSeq + 1n, `${ctx}: appending continues with the next seq`);
      model.set(seq, probeId);
      await log.close();
    }
    assert.ok(totalAcked > CYCLES, `the children got appends acknowledged (${totalAcked})`);
    assert.ok(killsBeforeReady < CYCLES, 'most kills landed while appending');
  });
});
