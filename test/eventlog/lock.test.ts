// One writer per directory, across and within processes, with stale locks
// (owner gone) taken over and live or unverifiable ones honoured.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EventLog, EventLogLockedError } from '../../src/eventlog/index.js';
import { makeEvent, walDirOf, withTempDir } from './helpers.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'lock-child.ts');

function child(mode: 'hold' | 'try', dir: string): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CHILD, mode, dir], { stdio: ['pipe', 'pipe', 'inherit'] });
}

async function firstLine(p: ChildProcess): Promise<string> {
  let buf = '';
  for await (const chunk of p.stdout!) {
    buf += String(chunk);
    const nl = buf.indexOf('\n');
    if (nl >= 0) return buf.slice(0, nl);
  }
  throw new Error('child ended without output');
}

async function lockOwner(dir: string): Promise<{ pid: number; token: string }> {
  return JSON.parse(await readFile(join(walDirOf(dir), 'LOCK'), 'utf8')) as { pid: number; token: string };
}

test('a second open in the same process fails until the first is closed', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir });
    await assert.rejects(EventLog.open({ dir }), (err: unknown) => {
      assert.ok(err instanceof EventLogLockedError);
      assert.match(err.message, /already open in this process/);
      assert.equal(err.holderPid, process.pid);
      return true;
    });
    await symlink(dir, join(dir, 'alias'));
    await assert.rejects(EventLog.open({ dir: join(dir, 'alias') }), EventLogLockedError, 'the same directory through a symlink');
    assert.equal(await log.append(makeEvent(1)), 1n, 'the first instance is unaffected');
    await log.close();
    assert.ok(!(await readdir(walDirOf(dir))).includes('LOCK'), 'close removes the lock file');
    const again = await EventLog.open({ dir });
    assert.equal(again.replayed.length, 1);
    await again.log.close();
  });
});

test('a log held by another process cannot be opened, in either direction', async () => {
  await withTempDir(async (dir) => {
    const holder = child('hold', dir);
    try {
      assert.equal(await firstLine(holder), 'held');
      await assert.rejects(EventLog.open({ dir }), (err: unknown) => {
        assert.ok(err instanceof EventLogLockedError);
        assert.equal(err.holderPid, holder.pid);
        assert.match(err.message, new RegExp(`held by pid ${holder.pid}`));
        return true;
      });
    } finally {
      holder.stdin!.end();
      await once(holder, 'exit');
    }
    const { log } = await EventLog.open({ dir });
    const probe = child('try', dir);
    assert.equal(await firstLine(probe), `locked ${process.pid}`);
    await once(probe, 'exit');
    await log.close();
    const probe2 = child('try', dir);
    assert.equal(await firstLine(probe2), 'opened');
    await once(probe2, 'exit');
  });
});

test('the lock of a killed process is taken over', async () => {
  await withTempDir(async (dir) => {
    const holder = child('hold', dir);
    assert.equal(await firstLine(holder), 'held');
    const stalePid = (await lockOwner(dir)).pid;
    assert.equal(stalePid, holder.pid);
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    const { log } = await EventLog.open({ dir });
    assert.equal((await lockOwner(dir)).pid, process.pid);
    await log.close();
  });
});

test('a lock left by an earlier process with this same pid (container restart) is taken over', async () => {
  await withTempDir(async (dir) => {
    await mkdir(walDirOf(dir), { recursive: true });
    const stale = { pid: process.pid, hostname: hostname(), token: 'old', startTime: '1', bootId: '', since: '' };
    await writeFile(join(walDirOf(dir), 'LOCK'), JSON.stringify(stale));
    // A lock candidate left by a process that died before linking it.
    const dead = spawn(process.execPath, ['-e', '']);
    await once(dead, 'exit');
    const leftover = `LOCK.${dead.pid}.0123456789ab.tmp`;
    await writeFile(join(walDirOf(dir), leftover), '{}');
    const { log } = await EventLog.open({ dir });
    assert.notEqual((await lockOwner(dir)).token, 'old');
    assert.ok(!(await readdir(walDirOf(dir))).includes(leftover), 'dead candidates are cleaned up');
    await log.close();
  });
});

test('live, foreign-host and unreadable locks are honoured', async () => {
  await withTempDir(async (dir) => {
    await mkdir(walDirOf(dir), { recursive: true });
    const lockPath = join(walDirOf(dir), 'LOCK');
    // Taken by this very process (another thread, say): same pid and start time.
    const { log } = await EventLog.open({ dir });
    const mine = JSON.parse(await readFile(lockPath, 'utf8')) as Record<string, unknown>;
    await log.close();
    await writeFile(lockPath, JSON.stringify({ ...mine, token: 'other-thread' }));
    await assert.rejects(EventLog.open({ dir }), EventLogLockedError);

    await writeFile(lockPath, JSON.stringify({ ...mine, hostname: 'elsewhere.example', token: 'x' }));
    await assert.rejects(EventLog.open({ dir }), /cannot tell whether it is still running/);

    await writeFile(lockPath, 'garbage');
    await assert.rejects(EventLog.open({ dir }), /unreadable/);
    assert.equal(await readFile(lockPath, 'utf8'), 'garbage', 'a lock that is not ours is left alone');
  });
});
