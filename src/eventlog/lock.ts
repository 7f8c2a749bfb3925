/**
 * One writer per log directory.
 *
 * Node has no flock(), so the lock is a file, `<dir>/wal/LOCK`, holding the
 * owner's identity as JSON. It is created atomically with its content by
 * hard-linking a fully written temporary file to the final name: link()
 * fails with EEXIST when the lock exists, and the lock is never seen empty.
 *
 * A lock whose owner is gone (process exited or was killed, machine
 * rebooted) is stale and is taken over. The owner is identified by pid plus
 * the process start time and boot id from /proc where available, so a pid
 * reused by an unrelated process, or by this process after a container
 * restart, is not mistaken for the owner. A lock written on another host
 * cannot be checked and is always honoured.
 *
 * Taking over is guarded by a second exclusive file, `LOCK.takeover`, so two
 * processes that both find the same stale lock cannot both end up holding it.
 *
 * Inside one process a registry shared through `globalThis` refuses a second
 * open before the file is even looked at, including from a second copy of
 * this module.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, readdir, readFile, realpath, rm, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { closeFd, fsync, fsyncDir, isErrno, openFd, writeAll } from '../io/durable-fs.js';
import { EventLogLockedError } from './errors.js';

export const LOCK_FILE = 'LOCK';
const TAKEOVER_FILE = 'LOCK.takeover';
/** Lock candidates are written under this pattern, then hard-linked to LOCK. */
const CANDIDATE = /^LOCK\.(\d+)\.[0-9a-f]+\.tmp$/;
/** Attempts at create-or-take-over before giving up (each one is a real race lost). */
const ACQUIRE_ATTEMPTS = 5;

interface LockOwner {
  pid: number;
  hostname: string;
  token: string;
  /** Kernel start time of the owning process (from /proc), or '' where unavailable. */
  startTime: string;
  /** Kernel boot id (from /proc), or '' where unavailable. */
  bootId: string;
  since: string;
}

type Liveness = 'alive' | 'dead' | 'unknown';

const REGISTRY_KEY = Symbol.for('tidemark.eventlog.openDirectories');

function registry(): Set<string> {
  const g = globalThis as { [REGISTRY_KEY]?: Set<string> };
  return (g[REGISTRY_KEY] ??= new Set<string>());
}

function readProc(path: string): string {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return '';
  }
}

/** Field 22 of /proc/<pid>/stat: the process start time in clock ticks since boot. */
function processStartTime(pid: number): string {
  const stat = readProc(`/proc/${pid}/stat`);
  const close = stat.lastIndexOf(')');
  if (close < 0) return '';
  // Fields after the command name start at field 3 (state), so field 22 is index 19.
  return stat.slice(close + 2).split(' ')[19] ?? '';
}

let cachedIdentity: { startTime: string; bootId: string } | undefined;
function ownIdentity(): { startTime: string; bootId: string } {
  return (cachedIdentity ??= {
    startTime: processStartTime(process.pid),
    bootId: readProc('/proc/sys/kernel/random/boot_id').trim(),
  });
}

function liveness(owner: LockOwner): Liveness {
  if (owner.hostname !== hostname()) return 'unknown';
  const me = ownIdentity();
  if (owner.bootId && me.bootId && owner.bootId !== me.bootId) return 'dead';
  if (owner.pid === process.pid) {
    // Same pid: another thread of this very process, or a previous process
    // that happened to get the same pid (common in containers).
    if (!owner.startTime || !me.startTime) return 'unknown';
    return owner.startTime === me.startTime ? 'alive' : 'dead';
  }
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if (isErrno(err, 'ESRCH')) return 'dead';
    if (!isErrno(err, 'EPERM')) return 'unknown';
  }
  if (owner.startTime) {
    const now = processStartTime(owner.pid);
    if (now && now !== owner.startTime) return 'dead';
  }
  return 'alive';
}

function parseOwner(text: string): LockOwner | null {
  try {
    const v = JSON.parse(text) as Partial<LockOwner>;
    if (typeof v.pid !== 'number' || typeof v.hostname !== 'string' || typeof v.token !== 'string') return null;
    return {
      pid: v.pid,
      hostname: v.hostname,
      token: v.token,
      startTime: typeof v.startTime === 'string' ? v.startTime : '',
      bootId: typeof v.bootId === 'string' ? v.bootId : '',
      since: typeof v.since === 'string' ? v.since : '',
    };
  } catch {
    return null;
  }
}

/** 'gone' when the file does not exist (any more), 'unreadable' when it is not a lock we understand. */
async function readOwner(path: string): Promise<LockOwner | 'gone' | 'unreadable'> {
  try {
    return parseOwner(await readFile(path, 'utf8')) ?? 'unreadable';
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 'gone';
    throw err;
  }
}

/** Creates `path` with `content` atomically; false when it already exists. */
async function createExclusive(dir: string, path: string, content: string): Promise<boolean> {
  const tmp = join(dir, `${LOCK_FILE}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const data = Buffer.from(content, 'utf8');
  const fd = await openFd(tmp, 'wx');
  try {
    await writeAll(fd, data, 0, data.length, 0);
    await fsync(fd);
  } finally {
    await closeFd(fd);
  }
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return false;
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
}

function describe(owner: LockOwner): string {
  return `held by pid ${owner.pid} on ${owner.hostname}${owner.since ? ` since ${owner.since}` : ''}`;
}

export class DirectoryLock {
  private released = false;

  private constructor(
    private readonly walDir: string,
    private readonly key: string,
    private readonly token: string,
  ) {}

  /** Takes the lock on `walDir` (which must exist) or throws EventLogLockedError. */
  static async acquire(walDir: string): Promise<DirectoryLock> {
    const key = await realpath(walDir);
    const lockPath = join(walDir, LOCK_FILE);
    const reg = registry();
    if (reg.has(key)) throw new EventLogLockedError(lockPath, process.pid, 'already open in this process');
    reg.add(key);
    try {
      const me = ownIdentity();
      const owner: LockOwner = {
        pid: process.pid,
        hostname: hostname(),
        token: randomBytes(16).toString('hex'),
        startTime: me.startTime,
        bootId: me.bootId,
        since: new Date().toISOString(),
      };
      const content = `${JSON.stringify(owner)}\n`;
      for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt++) {
        if (await createExclusive(walDir, lockPath, content)) {
          await fsyncDir(walDir);
          await removeDeadCandidates(walDir);
          return new DirectoryLock(walDir, key, owner.token);
        }
        const holder = await readOwner(lockPath);
        if (holder === 'gone') continue;
        if (holder === 'unreadable') {
          throw new EventLogLockedError(lockPath, undefined, 'lock file is unreadable; remove it if no process is using the log');
        }
        const state = liveness(holder);
        if (state === 'alive') throw new EventLogLockedError(lockPath, holder.pid, describe(holder));
        if (state === 'unknown') {
          throw new EventLogLockedError(lockPath, holder.pid, `${describe(holder)}; cannot tell whether it is still running`);
        }
        await takeOver(walDir, holder, content);
      }
      throw new EventLogLockedError(lockPath, undefined, 'lost the race for the lock repeatedly');
    } catch (err) {
      reg.delete(key);
      throw err;
    }
  }

  /** Removes the lock file if it is still ours and forgets the directory. Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      const lockPath = join(this.walDir, LOCK_FILE);
      const current = await readOwner(lockPath);
      if (typeof current === 'object' && current.token === this.token) {
        await unlink(lockPath);
        await fsyncDir(this.walDir);
      }
    } finally {
      registry().delete(this.key);
    }
  }
}

/** Deletes lock candidates left by processes that died between writing and linking them. */
async function removeDeadCandidates(walDir: string): Promise<void> {
  for (const name of await readdir(walDir)) {
    const pid = Number(CANDIDATE.exec(name)?.[1] ?? 0);
    if (pid === 0 || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if (isErrno(err, 'ESRCH')) await rm(join(walDir, name), { force: true });
    }
  }
}

async function takeOver(walDir: string, stale: LockOwner, content: string): Promise<void> {
  const lockPath = join(walDir, LOCK_FILE);
  const guardPath = join(walDir, TAKEOVER_FILE);
  if (!(await createExclusive(walDir, guardPath, content))) {
    const guard = await readOwner(guardPath);
    if (guard === 'gone') return;
    if (guard !== 'unreadable' && liveness(guard) === 'dead') {
      await rm(guardPath, { force: true });
      return;
    }
    throw new EventLogLockedError(lockPath, stale.pid, 'another process is taking over the stale lock');
  }
  try {
    const current = await readOwner(lockPath);
    if (typeof current === 'object' && current.token === stale.token) {
      try {
        await unlink(lockPath);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
  } finally {
    await rm(guardPath, { force: true });
  }
}
