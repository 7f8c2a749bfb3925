// OwnerLock: one owner per key within a process and per lock file across
// processes; stale locks (owner gone) taken over, live, foreign-host and
// unreadable ones honoured, and the caller's own error class thrown.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  OwnerLock,
  OwnerLockError,
  readLockHolder,
  type LockConflict,
  type LockConflictReason,
  type OwnerLockOptions,
} from '../../src/io/owner-lock.js';
import { withTempDir } from '../eventlog/helpers.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'owner-lock-child.ts');
const LOCK_NAME = 'app.db-lock';
const NAMESPACE = 'tidemark.test.ownerLock';
const RESOURCE = 'the test resource';
/** Rounds of the two-process race; every STALE_EVERY-th starts from a stale lock. */
const RACE_ROUNDS = 100;
const STALE_EVERY = 5;
/** Start times and boot ids come from /proc; without it a reused pid or a reboot cannot be recognised. */
const HAS_PROC = existsSync('/proc/self/stat') && existsSync('/proc/sys/kernel/random/boot_id');

class TestLockedError extends Error {
  constructor(readonly conflict: LockConflict) {
    super(`test resource is locked: ${conflict.lockPath}: ${conflict.detail}`);
  }
}

function options(dir: string, key: string, extra: Partial<OwnerLockOptions> = {}): OwnerLockOptions {
  return {
    dir,
    fileName: LOCK_NAME,
    key,
    namespace: NAMESPACE,
    resource: RESOURCE,
    lockedError: (conflict) => new TestLockedError(conflict),
    ...extra,
  };
}

/** An assertion for assert.rejects: the caller's error, refused for `reason`. */
function refused(reason: LockConflictReason, check?: (err: TestLockedError) => void): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof TestLockedError, `expected TestLockedError, got ${String(err)}`);
    assert.equal(err.conflict.reason, reason, err.message);
    check?.(err);
    return true;
  };
}

async function readRecord(dir: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(dir, LOCK_NAME), 'utf8')) as Record<string, unknown>;
}

/** A pid that existed a moment ago and no longer does. */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', '']);
  await once(p, 'exit');
  return p.pid!;
}

/** A record as another process on this host would have written it. */
function record(fields: Record<string, unknown>): string {
  return JSON.stringify({ hostname: hostname(), token: 'other', startTime: '', bootId: '', since: '', ...fields });
}

interface Child {
  proc: ChildProcess;
  send(line: string): void;
  /** The next JSON line the child prints. */
  next(): Promise<Record<string, unknown>>;
  /** Closes its stdin and waits for it to exit. */
  stop(): Promise<void>;
}

function startChild(args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  const exited = once(proc, 'exit');
  return {
    proc,
    send: (line) => proc.stdin!.write(`${line}\n`),
    async next() {
      const r = await lines.next();
      if (r.done) throw new Error('child ended without output');
      return JSON.parse(r.value as string) as Record<string, unknown>;
    },
    async stop() {
      proc.stdin!.end();
      await exited;
    },
  };
}

test('acquire writes the owner identity, release removes it, and the lock can be taken again', async () => {
  await withTempDir(async (dir) => {
    const before = Date.now();
    const lock = await OwnerLock.acquire(options(dir, 'k', { purpose: 'tidemark replicate /srv/app.db' }));
    assert.equal(lock.path, join(dir, LOCK_NAME));
    const rec = await readRecord(dir);
    assert.deepEqual(Object.keys(rec), ['pid', 'hostname', 'token', 'startTime', 'bootId', 'since', 'purpose']);
    assert.equal(rec.pid, process.pid);
    assert.equal(rec.hostname, hostname());
    assert.match(String(rec.token), /^[0-9a-f]{32}$/);
    assert.equal(typeof rec.startTime, 'string');
    assert.equal(typeof rec.bootId, 'string');
    assert.equal(new Date(String(rec.since)).toISOString(), rec.since, 'since is an ISO time');
    assert.ok(Date.parse(String(rec.since)) >= before - 1000);
    assert.equal(rec.purpose, 'tidemark replicate /srv/app.db');
    assert.deepEqual(await readdir(dir), [LOCK_NAME], 'no candidate or guard is left behind');

    await lock.release();
    await lock.release();
    assert.deepEqual(await readdir(dir), [], 'release removes the lock file, and a second release is harmless');
    assert.deepEqual(await readLockHolder(join(dir, LOCK_NAME)), { state: 'free' });

    const again = await OwnerLock.acquire(options(dir, 'k'));
    assert.ok(!('purpose' in (await readRecord(dir))), 'no purpose field when none was given');
    assert.notEqual((await readRecord(dir)).token, rec.token, 'every acquire has its own token');
    await again.release();
  });
});

test('the registry key, not the directory, decides conflicts inside a process', async () => {
  await withTempDir(async (root) => {
    const a = join(root, 'a');
    const b = join(root, 'b');
    await mkdir(a);
    await mkdir(b);
    const first = await OwnerLock.acquire(options(a, 'resource-1'));
    const registry = (globalThis as unknown as Record<symbol, Set<string> | undefined>)[Symbol.for(NAMESPACE)];
    assert.ok(registry?.has('resource-1'), 'the registry lives on globalThis under Symbol.for(namespace)');

    const inProcess = refused('in-process', (err) => {
      assert.equal(err.conflict.holderPid, process.pid);
      assert.match(err.message, /already open in this process/);
    });
    await assert.rejects(OwnerLock.acquire(options(a, 'resource-1')), inProcess);
    await assert.rejects(OwnerLock.acquire(options(b, 'resource-1')), inProcess, 'another directory, same key');
    assert.deepEqual(await readdir(b), [], 'an in-process refusal does not touch the directory');

    // Same directory and file but another key: the file itself refuses, held by this very process.
    await assert.rejects(
      OwnerLock.acquire(options(a, 'resource-2')),
      refused('held', (err) => assert.equal(err.conflict.holderPid, process.pid)),
    );
    // Another key and another file in the same directory is another lock.
    const second = await OwnerLock.acquire(options(a, 'resource-2', { fileName: 'other-lock' }));
    // The same key in another namespace is another registry.
    const third = await OwnerLock.acquire(options(b, 'resource-1', { namespace: `${NAMESPACE}.other` }));

    // A key taken by another copy of the module, which shares the registry only through globalThis.
    registry!.add('resource-3');
    try {
      await assert.rejects(OwnerLock.acquire(options(b, 'resource-3', { fileName: 'third-lock' })), refused('in-process'));
    } finally {
      registry!.delete('resource-3');
    }

    await first.release();
    assert.ok(!registry!.has('resource-1'), 'release frees the key');
    const reacquired = await OwnerLock.acquire(options(b, 'resource-1', { fileName: 'b-lock' }));
    await Promise.all([reacquired.release(), second.release(), third.release()]);
  });
});

test('a missing directory is reported as such and leaves nothing registered', async () => {
  await withTempDir(async (root) => {
    const dir = join(root, 'missing');
    await assert.rejects(OwnerLock.acquire(options(dir, 'missing')), (err: unknown) => {
      assert.ok(err instanceof OwnerLockError);
      assert.match(err.message, new RegExp(`directory ${dir} does not exist`));
      assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
      return true;
    });
    await writeFile(join(root, 'file'), '');
    await assert.rejects(OwnerLock.acquire(options(join(root, 'file'), 'missing')), /is not a directory/);
    await assert.rejects(OwnerLock.acquire(options(root, 'missing', { fileName: 'sub/LOCK' })), RangeError);
    await mkdir(dir);
    await (await OwnerLock.acquire(options(dir, 'missing'))).release();
  });
});

test('a lock held by a live process is refused; once that process is killed it is stale and taken over', async () => {
  await withTempDir(async (dir) => {
    const lockPath = join(dir, LOCK_NAME);
    const holder = startChild(['hold', dir, LOCK_NAME, 'child-key', 'tidemark replicate /srv/app.db']);
    try {
      assert.deepEqual(await holder.next(), { held: holder.proc.pid });
      const status = await readLockHolder(lockPath);
      assert.equal(status.state, 'held');
      assert.ok(status.state === 'held');
      assert.equal(status.holder.pid, holder.proc.pid);
      assert.equal(status.holder.hostname, hostname());
      assert.equal(status.holder.purpose, 'tidemark replicate /srv/app.db');
      assert.ok(status.holder.since !== '' && !Number.isNaN(Date.parse(status.holder.since)));
      assert.equal(status.holder.liveness, 'alive');

      await assert.rejects(
        OwnerLock.acquire(options(dir, 'parent-key')),
        refused('held', (err) => {
          assert.equal(err.conflict.holderPid, holder.proc.pid);
          assert.equal(err.conflict.holder?.liveness, 'alive');
          assert.ok(
            err.message.includes(`held by pid ${holder.proc.pid} on ${hostname()} since ${status.holder.since}`),
            err.message,
          );
          assert.match(err.message, /\(tidemark replicate \/srv\/app\.db\)/);
        }),
      );

      holder.proc.kill('SIGKILL');
      await once(holder.proc, 'exit');
      const stale = await readLockHolder(lockPath);
      assert.ok(stale.state === 'held');
      assert.equal(stale.holder.pid, holder.proc.pid);
      assert.equal(stale.holder.liveness, 'dead');

      const lock = await OwnerLock.acquire(options(dir, 'parent-key'));
      const mine = await readLockHolder(lockPath);
      assert.ok(mine.state === 'held');
      assert.equal(mine.holder.pid, process.pid);
      assert.equal(mine.holder.liveness, 'alive');
      assert.deepEqual(await readdir(dir), [LOCK_NAME], 'the takeover guard is gone');
      await lock.release();
    } finally {
      if (holder.proc.exitCode === null && holder.proc.signalCode === null) await holder.stop();
    }
  });
});

test('unreadable and foreign-host locks are refused, reported, and left alone', async () => {
  await withTempDir(async (dir) => {
    const lockPath = join(dir, LOCK_NAME);
    for (const content of ['garbage', '', '{"pid":1,"hostname":"h"}', 'null']) {
      await writeFile(lockPath, content);
      await assert.rejects(
        OwnerLock.acquire(options(dir, 'k')),
        refused('unreadable', (err) => {
          assert.equal(err.conflict.holderPid, undefined);
          assert.ok(
            err.message.endsWith('lock file is unreadable; remove it if no process is using the test resource'),
            err.message,
          );
        }),
        JSON.stringify(content),
      );
      assert.deepEqual(await readLockHolder(lockPath), { state: 'unreadable' });
      assert.equal(await readFile(lockPath, 'utf8'), content, 'a lock that is not ours is left alone');
    }

    const foreign = record({ pid: process.pid, hostname: 'elsewhere.example', since: '2024-05-01T10:00:00.000Z' });
    await writeFile(lockPath, foreign);
    await assert.rejects(
      OwnerLock.acquire(options(dir, 'k')),
      refused('unverifiable', (err) => {
        assert.equal(err.conflict.holderPid, process.pid);
        assert.match(
          err.message,
          /held by pid \d+ on elsewhere\.example since 2024-05-01T10:00:00\.000Z; cannot tell whether it is still running$/,
        );
      }),
    );
    const status = await readLockHolder(lockPath);
    assert.ok(status.state === 'held');
    assert.deepEqual(status.holder, {
      pid: process.pid,
      hostname: 'elsewhere.example',
      since: '2024-05-01T10:00:00.000Z',
      purpose: undefined,
      liveness: 'unknown',
    });
    assert.equal(await readFile(lockPath, 'utf8'), foreign);
  });
});

test('stale locks of a reused pid or an earlier boot are taken over, and dead candidates removed', { skip: HAS_PROC ? false : 'needs /proc' }, async () => {
  await withTempDir(async (dir) => {
    const lockPath = join(dir, LOCK_NAME);
    const gone = await deadPid();
    const staleLocks = [
      // This process's pid, but another start time: an earlier process (container restart).
      record({ pid: process.pid, startTime: '1' }),
      // Written before the last reboot.
      record({ pid: process.ppid, bootId: 'an-earlier-boot' }),
      record({ pid: gone }),
    ];
    for (const stale of staleLocks) {
      await writeFile(lockPath, stale);
      const status = await readLockHolder(lockPath);
      assert.ok(status.state === 'held');
      assert.equal(status.holder.liveness, 'dead', stale);
      const lock = await OwnerLock.acquire(options(dir, 'k'));
      assert.equal((await readRecord(dir)).pid, process.pid);
      await lock.release();
    }

    // Candidates of this lock from a dead writer go; a live writer's, and other locks' files, stay.
    const deadCandidate = `${LOCK_NAME}.${gone}.0123456789ab.tmp`;
    const liveCandidate = `${LOCK_NAME}.${process.ppid}.0123456789ab.tmp`;
    const lookalike = `appXdb-lock.${gone}.0123456789ab.tmp`;
    for (const name of [deadCandidate, liveCandidate, lookalike]) await writeFile(join(dir, name), '{}');
    const lock = await OwnerLock.acquire(options(dir, 'k'));
    assert.deepEqual((await readdir(dir)).sort(), [LOCK_NAME, lookalike, liveCandidate].sort());
    await lock.release();
  });
});

test('a takeover guard is honoured while its writer lives and cleared once it is dead', async () => {
  await withTempDir(async (dir) => {
    const lockPath = join(dir, LOCK_NAME);
    const guardPath = join(dir, `${LOCK_NAME}.takeover`);
    const gone = await deadPid();
    await writeFile(lockPath, record({ pid: gone, token: 'stale' }));

    // A guard written by a live process (this one, as another thread would).
    const me = await OwnerLock.acquire(options(dir, 'probe', { fileName: 'probe-lock' }));
    const liveGuard = await readFile(join(dir, 'probe-lock'), 'utf8');
    await me.release();
    await writeFile(guardPath, liveGuard);
    await assert.rejects(
      OwnerLock.acquire(options(dir, 'k')),
      refused('takeover-in-progress', (err) => {
        assert.equal(err.conflict.holderPid, gone);
        assert.match(err.message, /another process is taking over the stale lock/);
      }),
    );
    assert.equal(await readFile(guardPath, 'utf8'), liveGuard);

    // A guard left by a taker that died.
    await writeFile(guardPath, record({ pid: gone, token: 'dead-taker' }));
    const lock = await OwnerLock.acquire(options(dir, 'k'));
    assert.deepEqual(await readdir(dir), [LOCK_NAME]);
    await lock.release();
  });
});

test('release leaves alone a lock file that is no longer ours', async () => {
  await withTempDir(async (dir) => {
    const lock = await OwnerLock.acquire(options(dir, 'k'));
    const replaced = JSON.stringify({ ...(await readRecord(dir)), token: 'someone-else' });
    await writeFile(join(dir, LOCK_NAME), replaced);
    await lock.release();
    assert.equal(await readFile(join(dir, LOCK_NAME), 'utf8'), replaced);
    // The key is free again; the file (same pid and start time, so alive) still refuses.
    await assert.rejects(OwnerLock.acquire(options(dir, 'k')), refused('held'));
  });
});

test('two processes racing for one lock: exactly one wins every round and the lock is never seen empty', async () => {
  await withTempDir(async (dir) => {
    const lockPath = join(dir, LOCK_NAME);
    // Different keys and registries are irrelevant across processes; only the file decides.
    const racers = [startChild(['race', dir, LOCK_NAME, 'racer']), startChild(['race', dir, LOCK_NAME, 'racer'])];
    let polling = true;
    const seen = new Map<string, number>();
    // Reads the lock as fast as it can while the racers run: an empty or half
    // written lock would show up as 'unreadable'.
    const poller = (async () => {
      while (polling) {
        const { state } = await readLockHolder(lockPath);
        seen.set(state, (seen.get(state) ?? 0) + 1);
      }
    })();
    try {
      await Promise.all(racers.map(async (r) => assert.deepEqual(await r.next(), { ready: true })));
      const gone = await deadPid();
      let staleRounds = 0;
      for (let round = 0; round < RACE_ROUNDS; round++) {
        const stale = round % STALE_EVERY === 0;
        if (stale) {
          // Renamed into place: a plain writeFile would itself show the poller an empty lock.
          await writeFile(`${lockPath}.setup`, record({ pid: gone, token: `stale-${round}` }));
          await rename(`${lockPath}.setup`, lockPath);
          staleRounds++;
        }
        for (const r of racers) r.send('go');
        const results = await Promise.all(racers.map((r) => r.next()));
        const winners = results.flatMap((r, i) => (r.won === true ? [racers[i]!] : []));
        assert.equal(winners.length, 1, `round ${round}${stale ? ' (stale)' : ''}: ${JSON.stringify(results)}`);
        const loser = results.find((r) => r.won === false)!;
        if (loser.reason === 'held') {
          assert.equal(loser.holderPid, winners[0]!.proc.pid, `round ${round}: ${JSON.stringify(loser)}`);
        } else {
          assert.ok(stale && loser.reason === 'takeover-in-progress', `round ${round}: ${JSON.stringify(loser)}`);
        }
        const holder = await readLockHolder(lockPath);
        assert.ok(holder.state === 'held' && holder.holder.pid === winners[0]!.proc.pid);
        for (const r of racers) r.send('release');
        await Promise.all(racers.map(async (r) => assert.deepEqual(await r.next(), { released: true })));
        assert.deepEqual(await readdir(dir), [], `round ${round}: nothing is left once the winner released`);
      }
      assert.equal(staleRounds, RACE_ROUNDS / STALE_EVERY);
    } finally {
      polling = false;
      await Promise.all(racers.map((r) => r.stop()));
      await poller;
    }
    assert.equal(seen.get('unreadable'), undefined, 'the lock file was never seen without a complete identity');
    assert.ok((seen.get('held') ?? 0) > 0, `the poller saw the lock held: ${JSON.stringify([...seen])}`);
  });
});
