/** Readings from /proc: a process's peak memory, and how busy the whole machine was. */
import { readFileSync } from 'node:fs';

/** Linux reports /proc/stat times in USER_HZ ticks, 100 per second on every mainstream architecture. */
const USER_HZ = 100;

/** Peak resident set size of a live process (VmHWM), KiB; null once it is gone. */
export function readVmHwmKiB(pid: number): number | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  return m === null ? null : Number(m[1]);
}

/** CPU seconds (user + sys) a live process has used so far, threads and reaped children included; null once it is gone. */
export function processCpuSeconds(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Fields after the command name, which is in parentheses and may contain spaces: utime, stime, cutime, cstime are fields 14-17.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / USER_HZ;
}

/** CPU seconds all cores have spent busy since boot (everything but idle and iowait). */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / USER_HZ;
}

/** The 1-minute load average. */
export function loadAverage1m(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ', 1)[0]);
}

/** SQLite's WAL-index lock bytes: read-mark slot i is locked at byte 120 + 3 + i of the -shm file. */
const SHM_READ_LOCK_FIRST = 123;
const SHM_READ_LOCK_COUNT = 5;

/**
 * The WAL read-mark slots `pid` holds locks on in the -shm file with inode
 * `shmInode`, from /proc/locks. Slot 0 means a read transaction that sees
 * only the database file (the WAL was fully checkpointed when it began);
 * while it is held no checkpoint may copy WAL frames into the database.
 */
export function heldReadMarks(pid: number, shmInode: number): number[] {
  const marks: number[] = [];
  for (const line of readFileSync('/proc/locks', 'utf8').split('\n')) {
    // "1: POSIX  ADVISORY  READ 28035 fe:00:4245717 123 123"; waiters are marked "->" and hold nothing.
    const f = line.trim().split(/\s+/);
    if (f.length !== 8 || f[1] !== 'POSIX' || Number(f[4]) !== pid) continue;
    if (Number(f[5]!.split(':')[2]) !== shmInode) continue;
    const start = Number(f[6]);
    const end = f[7] === 'EOF' ? Infinity : Number(f[7]);
    for (let i = 0; i < SHM_READ_LOCK_COUNT; i++) {
      const byte = SHM_READ_LOCK_FIRST + i;
      if (start <= byte && byte <= end) marks.push(i);
    }
  }
  return marks;
}
