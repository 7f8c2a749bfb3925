import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  CompactionLevels,
  DEFAULT_COMPACTION_LEVELS,
  DEFAULT_SNAPSHOT_INTERVAL_MS,
  SNAPSHOT_LEVEL,
} from '../../src/compaction/compaction-levels.js';
import { CompactionLevelsError, CompactionOptionsError } from '../../src/compaction/errors.js';
import { LevelScheduler, type ScheduledJob } from '../../src/compaction/level-scheduler.js';
import { ManualClock } from '../../src/compaction/manual-clock.js';
import { nextCompactionAt, prevCompactionAt } from '../../src/compaction/schedule.js';
import { MAX_TIMER_DELAY_MS } from '../../src/compaction/clock.js';
import { EPOCH } from './fixtures.js';

const SEC = 1000;
const MIN = 60 * SEC;

describe('CompactionLevels', () => {
  it('defaults to L0 raw, L1 30 s, L2 5 min, L3 1 h and daily snapshots', () => {
    const levels = new CompactionLevels();
    assert.deepEqual(
      levels.levels.map((l) => [l.level, l.intervalMs]),
      [
        [0, 0],
        [1, 30 * SEC],
        [2, 5 * MIN],
        [3, 60 * MIN],
      ],
    );
    assert.equal(levels.snapshotIntervalMs, 24 * 60 * MIN);
    assert.equal(levels.maxLevel, 3);
    assert.equal(levels.intervalOf(SNAPSHOT_LEVEL), DEFAULT_SNAPSHOT_INTERVAL_MS);
    assert.equal(levels.prevLevel(SNAPSHOT_LEVEL), 3);
    assert.equal(levels.prevLevel(2), 1);
    assert.equal(levels.nextLevel(3), SNAPSHOT_LEVEL);
    assert.equal(levels.nextLevel(SNAPSHOT_LEVEL), -1);
    assert.deepEqual(
      levels.scheduled().map((l) => l.level),
      [1, 2, 3, 9],
    );
    assert.ok(levels.isValidLevel(9) && !levels.isValidLevel(4) && !levels.isValidLevel(-1));
    assert.throws(() => levels.intervalOf(5), CompactionLevelsError);
  });

  it('refuses what Litestream refuses, naming the entry', () => {
    const L = (level: number, intervalMs: number) => ({ level, intervalMs });
    const bad: [Parameters<typeof validateArgs>[0], number, RegExp][] = [
      [[], DEFAULT_SNAPSHOT_INTERVAL_MS, /at least one/],
      [[L(0, 0), L(2, 1000)], DEFAULT_SNAPSHOT_INTERVAL_MS, /position 1 is numbered 2/],
      [[L(0, 1000)], DEFAULT_SNAPSHOT_INTERVAL_MS, /level 0 cannot have an interval/],
      [[L(0, 0), L(1, 0)], DEFAULT_SNAPSHOT_INTERVAL_MS, /level 1 needs a positive interval/],
      [[L(0, 0), L(1, -5)], DEFAULT_SNAPSHOT_INTERVAL_MS, /level 1 needs a positive interval/],
      [Array.from({ length: 10 }, (_, i) => L(i, i === 0 ? 0 : 1000)), DEFAULT_SNAPSHOT_INTERVAL_MS, /level 9 is too high/],
      [[...DEFAULT_COMPACTION_LEVELS], 0, /snapshot interval must be positive/],
    ];
    for (const [levels, snap, re] of bad) assert.throws(() => validateArgs(levels, snap), (err: unknown) => err instanceof CompactionLevelsError && re.test(err.message));
    assert.equal(new CompactionLevels(Array.from({ length: 9 }, (_, i) => L(i, i === 0 ? 0 : 1000))).maxLevel, 8);
  });
});

function validateArgs(levels: { level: number; intervalMs: number }[], snapshotIntervalMs: number): CompactionLevels {
  return new CompactionLevels(levels, snapshotIntervalMs);
}

describe('prevCompactionAt / nextCompactionAt', () => {
  it('round to wall-clock multiples in UTC', () => {
    const t = Date.UTC(2024, 2, 5, 13, 47, 29, 512);
    assert.equal(prevCompactionAt(t, 30 * SEC).toISOString(), '2024-03-05T13:47:00.000Z');
    assert.equal(nextCompactionAt(t, 30 * SEC).toISOString(), '2024-03-05T13:47:30.000Z');
    assert.equal(prevCompactionAt(t, 5 * MIN).toISOString(), '2024-03-05T13:45:00.000Z');
    assert.equal(prevCompactionAt(new Date(t), 60 * MIN).toISOString(), '2024-03-05T13:00:00.000Z');
    assert.equal(prevCompactionAt(t, 24 * 60 * MIN).toISOString(), '2024-03-05T00:00:00.000Z');
    assert.equal(nextCompactionAt(t, 24 * 60 * MIN).toISOString(), '2024-03-06T00:00:00.000Z');
    const exact = Date.UTC(2024, 2, 5, 14);
    assert.equal(prevCompactionAt(exact, 60 * MIN).getTime(), exact, 'a time on a boundary is its own previous boundary');
    assert.equal(nextCompactionAt(exact, 60 * MIN).getTime(), exact + 60 * MIN);
    assert.throws(() => prevCompactionAt(t, 0), CompactionOptionsError);
    assert.throws(() => prevCompactionAt(Number.NaN, 1000), CompactionOptionsError);
  });

  it('bracket every time: prev <= now < next, prev a multiple of the interval since the epoch', () => {
    fc.assert(
      fc.property(fc.integer({ min: -4e12, max: 4e12 }), fc.integer({ min: 1, max: 7 * 24 * 3_600_000 }), (now, interval) => {
        const prev = prevCompactionAt(now, interval).getTime();
        const next = nextCompactionAt(now, interval).getTime();
        return prev <= now && now < next && next - prev === interval && ((prev % interval) + interval) % interval === 0;
      }),
    );
  });
});

/** Records each run's time (seconds after EPOCH) per job. */
function recorder(clock: ManualClock): { runs: Record<string, number[]>; job: (name: string, intervalMs: number, extra?: Partial<ScheduledJob>) => ScheduledJob } {
  const runs: Record<string, number[]> = {};
  return {
    runs,
    job: (name, intervalMs, extra = {}) => ({
      name,
      intervalMs,
      run: () => {
        (runs[name] ??= []).push((clock.now() - EPOCH) / SEC);
        return Promise.resolve();
      },
      ...extra,
    }),
  };
}

describe('LevelScheduler', () => {
  it('runs soon after start, then on the wall-clock multiples of each interval', async () => {
    const clock = new ManualClock(EPOCH + 7_300);
    const { runs, job } = recorder(clock);
    const s = new LevelScheduler({ jobs: [job('L1', 30 * SEC), job('L2', 5 * MIN)], clock });
    s.start();
    await clock.advanceTo(EPOCH + 10 * MIN, () => s.idle());
    assert.deepEqual(runs.L1, [7.3, ...Array.from({ length: 20 }, (_, i) => 30 * (i + 1))]);
    assert.deepEqual(runs.L2, [7.3, 300, 600]);
    assert.deepEqual(
      s.status().map((j) => [j.name, j.runs, j.nextRunAt?.getTime()]),
      [
        ['L1', 21, EPOCH + 630 * SEC],
        ['L2', 3, EPOCH + 900 * SEC],
      ],
    );
    await s.stop();
    assert.equal(clock.pendingTimers, 0);
  });

  it('runs again at once when a run outlasts the next boundary', async () => {
    const clock = new ManualClock(EPOCH);
    const runs: number[] = [];
    const s = new LevelScheduler({
      clock,
      jobs: [
        {
          name: 'slow',
          intervalMs: 30 * SEC,
          run: async () => {
            runs.push((clock.now() - EPOCH) / SEC);
            if (runs.length === 2) await clock.advance(45 * SEC); // the run at 30 s ends at 75 s
          },
        },
      ],
    });
    s.start();
    await clock.advanceTo(EPOCH + 100 * SEC, () => s.idle());
    assert.deepEqual(runs, [0, 30, 75, 90]);
    await s.stop();
  });

  it('honours retryAfterMs, keeps going after errors and reports them', async () => {
    const clock = new ManualClock(EPOCH);
    const runs: number[] = [];
    const errors: string[] = [];
    let calls = 0;
    const s = new LevelScheduler({
      clock,
      onError: (j, err) => errors.push(`${j.name}: ${(err as Error).message}`),
      jobs: [
        {
          name: 'L1',
          intervalMs: 30 * SEC,
          run: () => {
            runs.push((clock.now() - EPOCH) / SEC);
            calls++;
            if (calls <= 2) return Promise.resolve({ retryAfterMs: SEC });
            if (calls === 3) return Promise.reject(new Error('replica unreachable'));
            return Promise.resolve();
          },
        },
      ],
    });
    s.start();
    await clock.advanceTo(EPOCH + 61 * SEC, () => s.idle());
    assert.deepEqual(runs, [0, 1, 2, 30, 60]);
    assert.deepEqual(errors, ['L1: replica unreachable']);
    const [st] = s.status();
    assert.equal(st?.failures, 1);
    assert.equal(st?.lastError, undefined, 'a later success clears the last error');
    await s.stop();
  });

  it('runs unaligned jobs an interval after the previous start', async () => {
    const clock = new ManualClock(EPOCH + 4_000);
    const { runs, job } = recorder(clock);
    const s = new LevelScheduler({ clock, firstRunDelayMs: 500, jobs: [job('l0-retention', 15 * SEC, { aligned: false })] });
    s.start();
    await clock.advanceTo(EPOCH + 50 * SEC, () => s.idle());
    assert.deepEqual(runs['l0-retention'], [4.5, 19.5, 34.5, 49.5]);
    await s.stop();
  });

  it('waits out intervals longer than one timer can', async () => {
    const clock = new ManualClock(EPOCH + 1);
    const { runs, job } = recorder(clock);
    const interval = 30 * 24 * 60 * MIN;
    assert.ok(interval > MAX_TIMER_DELAY_MS);
    const s = new LevelScheduler({ clock, jobs: [job('monthly', interval)] });
    s.start();
    await clock.advanceTo(EPOCH + 2 * interval, () => s.idle());
    const boundary = nextCompactionAt(EPOCH + 1, interval).getTime();
    assert.deepEqual(runs.monthly, [0.001, (boundary - EPOCH) / SEC, (boundary + interval - EPOCH) / SEC]);
    await s.stop();
  });

  it('stop() aborts the run in progress, waits for it, and cancels every timer', async () => {
    const clock = new ManualClock(EPOCH);
    let aborted = false;
    let finished = false;
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const s = new LevelScheduler({
      clock,
      jobs: [
        {
          name: 'L3',
          intervalMs: 60 * MIN,
          run: async ({ signal }) => {
            started();
            await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
            aborted = signal.aborted;
            finished = true;
          },
        },
        { name: 'L1', intervalMs: 30 * SEC, run: () => Promise.resolve() },
      ],
    });
    s.start();
    void clock.advance(0);
    await running;
    assert.equal(s.status()[0]?.running, true);
    await s.stop();
    assert.ok(aborted && finished);
    assert.equal(clock.pendingTimers, 0);
    assert.equal(s.started, false);
    s.start();
    assert.equal(clock.pendingTimers, 0, 'a stopped scheduler does not start again');
  });

  it('refuses bad jobs', () => {
    const run = (): Promise<void> => Promise.resolve();
    assert.throws(() => new LevelScheduler({ jobs: [{ name: 'x', intervalMs: 0, run }] }), RangeError);
    assert.throws(
      () =>
        new LevelScheduler({
          jobs: [
            { name: 'x', intervalMs: 1, run },
            { name: 'x', intervalMs: 2, run },
          ],
        }),
      /listed twice/,
    );
  });

  it('on the system clock never keeps the process alive', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/scheduler-child.ts', import.meta.url))], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearTimeout(killer);
    assert.equal(code, 0, 'the process exited by itself');
    assert.equal(out, 'ran\n');
  });
});
