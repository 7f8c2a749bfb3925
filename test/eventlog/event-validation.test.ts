// The fast validity check of the append path agrees with the validator that
// explains failures, on arbitrary values, so no event skips validation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isValidEvent, MAX_U64, validateEvent } from '../../src/eventlog/event.js';

const field = fc.oneof(
  fc.bigInt({ min: -5n, max: MAX_U64 + 5n }),
  fc.constantFrom(0n, MAX_U64, MAX_U64 + 1n, -1n),
  fc.integer({ min: -3, max: 300 }),
  fc.double(),
  fc.constantFrom(1e39, -1e39, Number.NaN, Infinity, 3.4028234663852886e38, 255, 256, 0.5),
  fc.string(),
  fc.constant(undefined),
  fc.constant(null),
);

test('isValidEvent(e) is true exactly when validateEvent(e) does not throw', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.record({ entityId: field, signalType: field, weight: field, timestampNanos: field }),
        fc.record({ entityId: fc.bigInt({ min: 0n, max: MAX_U64 }), signalType: fc.integer({ min: 0, max: 255 }), weight: field, timestampNanos: fc.bigInt({ min: 0n, max: MAX_U64 }) }),
        fc.anything(),
      ),
      (e) => {
        let throws = false;
        try {
          validateEvent(e, 'append');
        } catch {
          throws = true;
        }
        assert.equal(isValidEvent(e), !throws, `disagree on ${String(JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)))}`);
      },
    ),
    { numRuns: 5000 },
  );
});

test('appendMany still names the index of an invalid event', async () => {
  const { EventLog } = await import('../../src/eventlog/index.js');
  const { withTempDir, makeEvent } = await import('./helpers.js');
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir });
    const bad = { ...makeEvent(2), signalType: 256 };
    await assert.rejects(log.appendMany([makeEvent(1), bad]), /appendMany\[1\]: signalType 256/);
    assert.equal(log.stats().eventsAppended, 0, 'nothing appended');
    await log.close();
  });
});
