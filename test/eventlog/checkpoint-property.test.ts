// The seed's prop_wal_replay_from_checkpoint, scaled from 5 cases of <= 5
// events to 200 cases of up to 1000, with an exact assertion: replay is
// precisely the events with seq > checkpoint, in order and field-exact (the
// seed only required "at least" that many). Cases also vary how events are
// appended and whether covered segments are truncated before reopening.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { EventLog, type EventLogOptions, type SignalEvent } from '../../src/eventlog/index.js';
import { sameEvent, tempDir } from './helpers.js';

const CASES = 200;
const MAX_EVENTS = 1000;

const arbEvent = fc.record({
  entityId: fc.bigInt({ min: 1n, max: 10_000n }),
  signalType: fc.integer({ min: 0, max: 255 }),
  weight: fc.float({ min: -100, max: 100, noNaN: true }),
  timestampNanos: fc.bigInt({ min: 1n, max: 0xffff_ffff_ffff_ffffn }),
});

test('replay after a checkpoint is exactly the events after it', async () => {
  const { dir: root, cleanup } = await tempDir();
  let caseNo = 0;
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.array(arbEvent, { minLength: 1, maxLength: MAX_EVENTS }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.constantFrom('sequential-chunks', 'concurrent', 'appendMany'),
        fc.boolean(),
        async (raw, checkpointFrac, mode, truncate) => {
          const dir = `${root}/case-${caseNo++}`;
          // Make every event unique, as the seed does, so dedup keeps them all.
          const events: SignalEvent[] = raw.map((e, i) => ({
            ...e,
            entityId: BigInt(i) * 1_000_000n + e.entityId,
            timestampNanos: BigInt(i) * 1_000_000n + (e.timestampNanos % 1_000_000n),
          }));
          const config: EventLogOptions = {
            dir,
            segmentSize: 4096,
            batchSize: 50,
            batchTimeoutMs: 1,
            dedupWindowMs: 60_000,
          };
          const { log } = await EventLog.open(config);
          let seqs: bigint[];
          if (mode === 'appendMany') {
            seqs = await log.appendMany(events);
          } else if (mode === 'concurrent') {
            seqs = await Promise.all(events.map((e) => log.append(e)));
          } else {
            seqs = [];
            for (let i = 0; i < events.length; i += 100) {
              seqs.push(...(await Promise.all(events.slice(i, i + 100).map((e) => log.append(e)))));
            }
          }
          assert.deepEqual(seqs, events.map((_, i) => BigInt(i + 1)), 'seqs are 1..n in call order');

          const checkpointIdx = Math.min(Math.floor(events.length * checkpointFrac), events.length - 1);
          const checkpointSeq = seqs[checkpointIdx]!;
          await log.checkpoint(checkpointSeq);
          if (truncate) await log.truncateBefore(checkpointSeq);
          await log.close();

          const reopened = await EventLog.open(config);
          const expected = events.slice(checkpointIdx + 1);
          assert.equal(reopened.replayed.length, expected.length, 'exactly the events after the checkpoint');
          reopened.replayed.forEach((e, i) => {
            assert.equal(e.seq, checkpointSeq + 1n + BigInt(i));
            assert.ok(sameEvent(e, expected[i]!), `event seq ${e.seq} is field-exact`);
          });
          assert.equal(reopened.recovery.checkpointSeq, checkpointSeq);
          assert.equal(reopened.recovery.nextSeq, BigInt(events.length + 1));
          await reopened.log.close();
        },
      ),
      { numRuns: CASES },
    );
  } finally {
    await cleanup();
  }
  assert.equal(caseNo >= CASES, true, 'every case ran');
});
