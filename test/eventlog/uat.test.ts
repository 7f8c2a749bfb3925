// UAT P1.2 "Write-Ahead Log: Full 10-Step Acceptance Test" from the tidalDB
// seed, through the public API only. The seed's code had been scaled down to
// 100 events while its documented steps say 500 (and 200 for the crash); this
// port runs the documented sizes and asserts exact counts where the seed
// accepted ranges ("at least 50").
import assert from 'node:assert/strict';
import { open as openFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { EventLog, type EventLogOptions, type SignalEvent } from '../../src/eventlog/index.js';
import { makeVariedEvent, nonZeroLength, sameEvent, withTempDir } from './helpers.js';

const EVENTS = 500;
const POST_CHECKPOINT = 50;
const CRASH_EVENTS = 200;

test('UAT P1.2: the full 10-step write-ahead-log scenario', async () => {
  await withTempDir(async (dir) => {
    // 2 KB segments force several rotations.
    const config = (): EventLogOptions => ({
      dir,
      segmentSize: 2 * 1024,
      batchSize: 100,
      batchTimeoutMs: 1,
      dedupWindowMs: 60_000,
    });

    // Step 1: append varied events; each gets a real, strictly increasing seq.
    let { log, replayed } = await EventLog.open(config());
    assert.equal(replayed.length, 0, 'a fresh log replays nothing');
    const seqs: bigint[] = [];
    for (let i = 0; i < EVENTS; i++) {
      const seq = await log.append(makeVariedEvent(i));
      assert.ok(seq > 0n, `unique event ${i} gets a real seq`);
      seqs.push(seq);
    }
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i - 1]! < seqs[i]!, 'seqs strictly increase');
    await log.close();
    const segments = (await readdir(join(dir, 'wal'))).filter((n) => n.endsWith('.seg'));
    assert.ok(segments.length > 4, `2 KB segments rotate (got ${segments.length})`);

    // Step 2: reopen; every event is back, field-exact, with its seq.
    ({ log, replayed } = await EventLog.open(config()));
    assert.equal(replayed.length, EVENTS);
    replayed.forEach((e, i) => {
      assert.ok(sameEvent(e, makeVariedEvent(i)), `event ${i} is field-exact`);
      assert.equal(e.seq, seqs[i]);
    });

    // Step 3: re-appending ten of them gives 0n for each.
    for (let d = 0; d < 10; d++) {
      const original = d * (EVENTS / 10);
      assert.equal(await log.append(makeVariedEvent(original)), 0n, `duplicate of event ${original} returns 0n`);
    }
    await log.close();

    // Step 4: the log holds exactly the originals.
    ({ log, replayed } = await EventLog.open(config()));
    assert.equal(replayed.length, EVENTS, `exactly ${EVENTS} records, not ${EVENTS + 10}`);

    // Step 5: checkpoint at the current position.
    const checkpointSeq = seqs[EVENTS - 1]!;
    await log.checkpoint(checkpointSeq);

    // Step 6: append events after the checkpoint.
    const post: SignalEvent[] = [];
    const postSeqs: bigint[] = [];
    for (let i = EVENTS; i < EVENTS + POST_CHECKPOINT; i++) {
      const e = makeVariedEvent(i);
      post.push(e);
      const seq = await log.append(e);
      assert.ok(seq > 0n, `post-checkpoint event ${i} gets a real seq`);
      postSeqs.push(seq);
    }

    // Step 7: clean shutdown.
    await log.close();

    // Step 8: reopen; exactly the post-checkpoint events are replayed.
    ({ log, replayed } = await EventLog.open(config()));
    assert.equal(replayed.length, POST_CHECKPOINT, 'exactly 50 events replayed');
    replayed.forEach((e, i) => {
      assert.ok(sameEvent(e, post[i]!), `post-checkpoint event ${i} is field-exact`);
      assert.equal(e.seq, postSeqs[i]);
      assert.ok(e.seq > checkpointSeq);
    });

    // Step 9: checkpointed state + replay = full history; the log keeps working.
    const history = [...Array.from({ length: EVENTS }, (_, i) => makeVariedEvent(i)), ...replayed];
    assert.equal(history.length, EVENTS + POST_CHECKPOINT);
    const continuation = await log.append(makeVariedEvent(99_999));
    assert.equal(continuation, postSeqs[POST_CHECKPOINT - 1]! + 1n, 'the next seq follows on');
    await log.close();
    ({ log, replayed } = await EventLog.open(config()));
    assert.equal(replayed.length, POST_CHECKPOINT + 1, 'post-checkpoint events plus the continuation');
    assert.ok(sameEvent(replayed[POST_CHECKPOINT]!, makeVariedEvent(99_999)));
    await log.close();
  });

  // Step 10: crash simulation in a separate log: write, cut the last segment mid-data, reopen.
  await withTempDir(async (dir) => {
    const config = (): EventLogOptions => ({ dir, segmentSize: 4096, batchSize: 50, batchTimeoutMs: 1, dedupWindowMs: 60_000 });
    let { log, replayed } = await EventLog.open(config());
    for (let i = 0; i < CRASH_EVENTS; i++) {
      assert.ok((await log.append(makeVariedEvent(10_000 + i))) > 0n, `crash-log event ${i} gets a real seq`);
    }
    await log.close();
    ({ log, replayed } = await EventLog.open(config()));
    assert.equal(replayed.length, CRASH_EVENTS, 'baseline: everything is there');
    await log.close();

    // Cut the last segment at 70% of its data (segments are preallocated, so
    // 70% of the file size could land in unused zeros).
    const walDir = join(dir, 'wal');
    const segs = (await readdir(walDir)).filter((n) => n.startsWith('wal-') && n.endsWith('.seg')).sort();
    assert.ok(segs.length > 0);
    const last = join(walDir, segs[segs.length - 1]!);
    const cut = Math.floor(((await nonZeroLength(last)) * 7) / 10);
    const fh = await openFile(last, 'r+');
    await fh.truncate(cut);
    await fh.sync();
    await fh.close();

    const cutOpen = await EventLog.open(config());
    ({ log, replayed } = cutOpen);
    const recovery = cutOpen.recovery;
    assert.ok(replayed.length < CRASH_EVENTS, `fewer than ${CRASH_EVENTS} after the cut, got ${replayed.length}`);
    assert.ok(replayed.length > 0, 'committed batches before the cut survive');
    assert.ok(recovery.bytesTruncated > 0, 'the torn tail was cut');
    replayed.forEach((e, i) => {
      assert.ok(sameEvent(e, makeVariedEvent(10_000 + i)), `recovered event ${i} is field-exact`);
      assert.equal(e.seq, BigInt(i + 1));
    });
    const recovered = replayed.length;
    // The cut removed events that a clean close had recorded as durable: they
    // are reported, and their sequence numbers are not handed out again.
    assert.deepEqual(recovery.missingTail, { fromSeq: BigInt(recovered + 1), toSeq: BigInt(CRASH_EVENTS) });
    assert.equal(await log.append(makeVariedEvent(99_998)), BigInt(CRASH_EVENTS + 1), 'no seq is reused');
    await log.close();

    ({ log, replayed } = await EventLog.open(config()));
    assert.equal(replayed.length, recovered + 1, 'recovered events plus the new one');
    assert.equal(replayed[recovered]!.seq, BigInt(CRASH_EVENTS + 1));
    await log.close();
  });
});
