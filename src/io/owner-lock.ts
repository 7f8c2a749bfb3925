/**
 * An exclusive owner for something on disk (an event log directory, a
 * replicated database), held across processes and within one.
 *
 * Node has no flock(), so the lock is a file whose content is the owner's
 * identity as JSON. The file must appear already complete: the JSON goes to a
 * private temporary file, is fsynced, and is then hard-linked to the lock's
 * name. link() refuses with EEXIST when a lock is already there, so creation
 * and content are one atomic step and nobody ever reads an empty lock.
 *
 * A lock whose owner is gone (the process exited or was killed, the machine
 * rebooted) is stale and is taken over. A bare pid is not proof of life: pids
 * are reused, notably by this very process after a container restart, so the
 * owner also records its start time and the boot id from /proc where those
 * exist. A lock written on another host cannot be checked from here and is
 * always honoured.
 *
 * Two processes can find the same stale lock at once; a second exclusive
 * file, `<name>.takeover`, makes sure only one of them replaces it.
 *
 * Inside one process a registry shared through `globalThis` (under
 * `Symbol.for(namespace)`) refuses a second owner before the file is even
 * looked at, so two copies of this module loaded side by side still agree. The
 * caller chooses the registry key: what names the resource (a realpath, say)
 * need not be where its lock file lives.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, mkdir, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { TidemarkError } from '../errors.js';
import { closeFd, fsync, fsyncDir, isErrno, openFd, writeAll } from './durable-fs.js';

/** Suffix of the guard file that serialises takeovers of a stale lock. */
const TAKEOVER_SUFFIX = '.takeover';
/** Suffix of the fully written candidates that are hard-linked to the lock name. */
const CANDIDATE_SUFFIX = '.tmp';
/** Random bytes in a candidate's name, so concurrent acquirers in one process never share one. */
const CANDIDATE_NONCE_BYTES = 6;
/** Random bytes of the token that tells our lock file from a later owner's. */
const TOKEN_BYTES = 16;
/** Attempts at create-or-take-over before giving up (each one is a real race lost). */
const ACQUIRE_ATTEMPTS = 5;
/** Used in messages when the caller does not say what the lock protects. */
const DEFAULT_RESOURCE = 'the locked resource';

/** Whether the owner recorded in a lock file is still running, as far as this host can tell. */
export type LockLiveness = 'alive' | 'dead' | 'unknown';

/** Who holds a lock, as recorded in its file and judged from this host. */
export interface LockHolder {
  pid: number;
  hostname: string;
  /** ISO time the lock was taken, or '' when the file does not say. */
  since: string;
  /** The holder's free-form note (e.g. "tidemark replicate /srv/app.db"), when it left one. */
  purpose: string | undefined;
  liveness: LockLiveness;
}

/** What is found at a lock file's path. */
export type LockStatus =
  | { state: 'free' }
  | { state: 'unreadable' }
  | { state: 'held'; holder: LockHolder };

/** Why an acquire was refused. */
export type LockConflictReason =
  /** The registry key is already held in this process. */
  | 'in-process'
  /** A live owner holds the file. */
  | 'held'
  /** The owner cannot be checked from this host (another host, or no way to probe the pid). */
  | 'unverifiable'
  /** The file is not a lock this module understands. */
  | 'unreadable'
  /** Another process is replacing the same stale lock right now. */
  | 'takeover-in-progress'
  /** Every attempt lost a race with another acquirer. */
  | 'contended';

/** Handed to the caller's error factory when the lock cannot be taken. */
export interface LockConflict {
  reason: LockConflictReason;
  lockPath: string;
  /** Pid recorded by the holder (this process for 'in-process'), when known. */
  holderPid: number | undefined;
  /** The holder read from the file, when there was one to read ('takeover-in-progress': the stale one being replaced). */
  holder: LockHolder | undefined;
  /** A human-readable account, e.g. "held by pid 42 on db1 since 2024-05-01T10:00:00.000Z". */
  detail: string;
}

export interface OwnerLockOptions {
  /** Directory the lock file lives in. It must exist. */
  dir: string;
  /** Name of the lock file inside `dir` (a plain name, no path separators). */
  fileName: string;
  /** Identifies the resource inside this process; two acquires with the same key conflict whatever `dir` is. */
  key: string;
  /** Name under which the in-process registry is shared (`Symbol.for(namespace)`); one per kind of resource. */
  namespace: string;
  /** Free-form note written into the lock file so an operator can tell what holds it. */
  purpose?: string;
  /** What the lock protects, in words, for messages (e.g. 'the log'). */
  resource?: string;
  /** Builds the error thrown when the lock cannot be taken. */
  lockedError: (conflict: LockConflict) => Error;
}

/** The lock could not be attempted at all (e.g. its directory is missing); `cause` has the file system error. */
export class OwnerLockError extends TidemarkError {
  override name = 'OwnerLockError';
}

/** The identity an owner writes into its lock file. */
interface OwnerRecord {
  pid: number;
  hostname: string;
  token: string;
  /** Kernel start time of the owning process (from /proc), or '' where unavailable. */
  startTime: string;
  /** Kernel boot id (from /proc), or '' where unavailable. */
  bootId: string;
  since: string;
  purpose?: string;
}

export class OwnerLock {
  private released = false;

  private constructor(
    /** Path of the lock file this instance owns. */
    readonly path: string,
    private readonly dir: string,
    private readonly namespace: string,
    private readonly key: string,
    private readonly token: string,
    private readonly content: string,
  ) {}

  /** Takes the lock or throws the error `options.lockedError` builds. */
  static async acquire(options: OwnerLockOptions): Promise<OwnerLock> {
    const { dir, fileName, key, namespace } = options;
    checkFileName(fileName);
    await checkDirectory(dir);
    const lockPath = join(dir, fileName);
    const resource = options.resource ?? DEFAULT_RESOURCE;
    const refuse = (reason: LockConflictReason, holder: LockHolder | undefined, detail: string): Error =>
      options.lockedError({ reason, lockPath, holderPid: holder?.pid, holder, detail });

    const reg = registry(namespace);
    if (reg.has(key)) {
      throw options.lockedError({
        reason: 'in-process',
        lockPath,
        holderPid: process.pid,
        holder: undefined,
        detail: 'already open in this process',
      });
    }
    reg.add(key);
    try {
      const me = ownIdentity();
      const owner: OwnerRecord = {
        pid: process.pid,
        hostname: hostname(),
        token: randomBytes(TOKEN_BYTES).toString('hex'),
        startTime: me.startTime,
        bootId: me.bootId,
        since: new Date().toISOString(),
        purpose: options.purpose,
      };
      const content = `${JSON.stringify(owner)}\n`;
      for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt++) {
        if (await createExclusive(dir, fileName, lockPath, content)) {
          await fsyncDir(dir);
          await removeDeadCandidates(dir, fileName);
          return new OwnerLock(lockPath, dir, namespace, key, owner.token, content);
        }
        const holder = await readOwner(lockPath);
        if (holder === 'gone') continue;
        if (holder === 'unreadable') {
          throw refuse('unreadable', undefined, `lock file is unreadable; remove it if no process is using ${resource}`);
        }
        const state = liveness(holder);
        const seen = toHolder(holder, state);
        if (state === 'alive') throw refuse('held', seen, describeLockHolder(seen));
        if (state === 'unknown') {
          throw refuse('unverifiable', seen, `${describeLockHolder(seen)}; cannot tell whether it is still running`);
        }
        if (!(await takeOver(dir, fileName, holder, content))) {
          throw refuse('takeover-in-progress', seen, 'another process is taking over the stale lock');
        }
      }
      throw refuse('contended', undefined, 'lost the race for the lock repeatedly');
    } catch (err) {
      reg.delete(key);
      throw err;
    }
  }

  /**
   * Makes sure the lock file is still ours: `held` when it is, `restored`
   * when it had gone (its directory removed, say) and was written again,
   * `lost` when another owner's file is there now.
   */
  async refresh(): Promise<'held' | 'restored' | 'lost'> {
    if (this.released) return 'lost';
    const current = await readOwner(this.path);
    if (typeof current === 'object') return current.token === this.token ? 'held' : 'lost';
    if (current === 'unreadable') return 'lost';
    await mkdir(this.dir, { recursive: true });
    if (!(await createExclusive(this.dir, basename(this.path), this.path, this.content))) return 'lost';
    await fsyncDir(this.dir);
    return 'restored';
  }

  /** Removes the lock file if it is still ours and frees the registry key. Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      // Someone may have removed our file and taken the lock (an operator who
      // thought us dead); theirs must survive our release.
      const current = await readOwner(this.path);
      if (typeof current === 'object' && current.token === this.token) {
        await unlink(this.path);
        await fsyncDir(this.dir);
      }
    } finally {
      registry(this.namespace).delete(this.key);
    }
  }
}

/** Reads who holds the lock at `lockPath`, for display; does not take or change anything. */
export async function readLockHolder(lockPath: string): Promise<LockStatus> {
  const owner = await readOwner(lockPath);
  if (owner === 'gone') return { state: 'free' };
  if (owner === 'unreadable') return { state: 'unreadable' };
  return { state: 'held', holder: toHolder(owner, liveness(owner)) };
}

/** "held by pid 42 on db1 since <time> (<purpose>)": the words acquire's refusals use. */
export function describeLockHolder(holder: LockHolder): string {
  const since = holder.since ? ` since ${holder.since}` : '';
  const purpose = holder.purpose ? ` (${holder.purpose})` : '';
  return `held by pid ${holder.pid} on ${holder.hostname}${since}${purpose}`;
}

function toHolder(owner: OwnerRecord, state: LockLiveness): LockHolder {
  return { pid: owner.pid, hostname: owner.hostname, since: owner.since, purpose: owner.purpose, liveness: state };
}

function checkFileName(fileName: string): void {
  if (fileName === '' || fileName === '.' || fileName === '..' || /[/\\\0]/.test(fileName)) {
    throw new RangeError(`owner lock: file name must be a plain file name, got ${JSON.stringify(fileName)}`);
  }
}

async function checkDirectory(dir: string): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) {
      throw new OwnerLockError(`cannot lock: directory ${dir} does not exist`, { cause: err });
    }
    throw new OwnerLockError(`cannot lock: cannot read directory ${dir}`, { cause: err });
  }
  if (!isDir) throw new OwnerLockError(`cannot lock: ${dir} is not a directory`);
}

function registry(namespace: string): Set<string> {
  const g = globalThis as unknown as Record<symbol, Set<string> | undefined>;
  return (g[Symbol.for(namespace)] ??= new Set<string>());
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
  // The command name (field 2) may contain spaces and parentheses; it ends at the last ')'.
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

function liveness(owner: OwnerRecord): LockLiveness {
  if (owner.hostname !== hostname()) return 'unknown';
  const me = ownIdentity();
  if (owner.bootId && me.bootId && owner.bootId !== me.bootId) return 'dead';
  if (owner.pid === process.pid) {
    // Same pid: another thread of this very process (whose globalThis, and so
    // registry, is its own), or a previous process that happened to get the
    // same pid (common in containers).
    if (!owner.startTime || !me.startTime) return 'unknown';
    return owner.startTime === me.startTime ? 'alive' : 'dead';
  }
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if (isErrno(err, 'ESRCH')) return 'dead';
    // EPERM: the process exists but belongs to someone else.
    if (!isErrno(err, 'EPERM')) return 'unknown';
  }
  if (owner.startTime) {
    const now = processStartTime(owner.pid);
    if (now && now !== owner.startTime) return 'dead';
  }
  return 'alive';
}

function parseOwner(text: string): OwnerRecord | null {
  try {
    const v = JSON.parse(text) as Partial<OwnerRecord>;
    if (typeof v.pid !== 'number' || typeof v.hostname !== 'string' || typeof v.token !== 'string') return null;
    return {
      pid: v.pid,
      hostname: v.hostname,
      token: v.token,
      startTime: typeof v.startTime === 'string' ? v.startTime : '',
      bootId: typeof v.bootId === 'string' ? v.bootId : '',
      since: typeof v.since === 'string' ? v.since : '',
      purpose: typeof v.purpose === 'string' ? v.purpose : undefined,
    };
  } catch {
    return null;
  }
}

/** 'gone' when the file does not exist (any more), 'unreadable' when it is not a lock we understand. */
async function readOwner(path: string): Promise<OwnerRecord | 'gone' | 'unreadable'> {
  try {
    return parseOwner(await readFile(path, 'utf8')) ?? 'unreadable';
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 'gone';
    throw err;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Matches the candidates of the lock `fileName`, capturing the pid of the process that wrote each. */
function candidatePattern(fileName: string): RegExp {
  return new RegExp(`^${escapeRegExp(fileName)}\\.(\\d+)\\.[0-9a-f]+${escapeRegExp(CANDIDATE_SUFFIX)}$`);
}

/** Creates `path` with `content` atomically; false when it already exists. */
async function createExclusive(dir: string, fileName: string, path: string, content: string): Promise<boolean> {
  const nonce = randomBytes(CANDIDATE_NONCE_BYTES).toString('hex');
  const tmp = join(dir, `${fileName}.${process.pid}.${nonce}${CANDIDATE_SUFFIX}`);
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

/** Deletes candidates left by processes that died between writing and linking them. */
async function removeDeadCandidates(dir: string, fileName: string): Promise<void> {
  const pattern = candidatePattern(fileName);
  for (const name of await readdir(dir)) {
    const pid = Number(pattern.exec(name)?.[1] ?? 0);
    if (pid === 0 || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if (isErrno(err, 'ESRCH')) await rm(join(dir, name), { force: true });
    }
  }
}

/**
 * Removes the stale lock `stale` unless someone already replaced it, under the
 * takeover guard. False when a live process holds the guard; true when the
 * caller should simply try to create the lock again.
 */
async function takeOver(dir: string, fileName: string, stale: OwnerRecord, content: string): Promise<boolean> {
  const lockPath = join(dir, fileName);
  const guardPath = join(dir, `${fileName}${TAKEOVER_SUFFIX}`);
  if (!(await createExclusive(dir, fileName, guardPath, content))) {
    const guard = await readOwner(guardPath);
    if (guard === 'gone') return true;
    if (guard !== 'unreadable' && liveness(guard) === 'dead') {
      // A taker that died mid-takeover; clear its guard and start over.
      await rm(guardPath, { force: true });
      return true;
    }
    return false;
  }
  try {
    // Only the exact stale lock we judged dead may go: by now another taker
    // may have finished and written a live lock of its own.
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
  return true;
}
