import type { RestoreProgress } from '../restore/restore.js';

/** A terminal redraws the line at most this often; more is flicker, not information. */
export const PROGRESS_REDRAW_MS = 200;
/** The line appears only for restores that last longer than this: a quick one stays quiet. */
export const PROGRESS_DELAY_MS = 500;

const MIB = 1024 * 1024;

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

function duration(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.ceil(seconds - m * 60)} s`;
}

/**
 * One line of restore progress, as a terminal shows it: fetched of planned
 * bytes, pages written, rate and time left. `elapsedMs` is the time since the
 * restore started.
 */
export function formatRestoreProgress(p: RestoreProgress, elapsedMs: number): string {
  const seconds = elapsedMs / 1000;
  const rate = seconds > 0 ? p.bytesFetched / seconds : 0;
  const fraction = p.bytesToFetch > 0 ? p.bytesFetched / p.bytesToFetch : 1;
  const left = rate > 0 ? (p.bytesToFetch - p.bytesFetched) / rate : undefined;
  return [
    `restoring: ${mib(p.bytesFetched)} of ${mib(p.bytesToFetch)} (${Math.floor(fraction * 100)}%)`,
    `${p.pagesWritten} pages written`,
    `${mib(rate)}/s`,
    left === undefined ? 'time left unknown' : `${duration(left)} left`,
  ].join(', ');
}

interface Terminal {
  write(s: string): boolean;
  columns?: number;
}

/**
 * The progress line on a terminal, redrawn in place (carriage return and
 * erase to the end of the line) and removed by `clear`, so that the lines
 * printed after it read as if it had never been there.
 */
export class RestoreProgressLine {
  private readonly started: number;
  private lastDraw = 0;
  private shown = false;
  private readonly now: () => number;

  constructor(
    private readonly out: Terminal,
    opts: { now?: () => number } = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.started = this.now();
  }

  update(p: RestoreProgress): void {
    const now = this.now();
    if (now - this.started < PROGRESS_DELAY_MS || now - this.lastDraw < PROGRESS_REDRAW_MS) return;
    this.lastDraw = now;
    let line = formatRestoreProgress(p, now - this.started);
    const width = this.out.columns;
    if (width !== undefined && width > 1 && line.length >= width) line = line.slice(0, width - 1);
    this.out.write(`\r${line}\x1b[K`);
    this.shown = true;
  }

  clear(): void {
    if (!this.shown) return;
    this.out.write('\r\x1b[K');
    this.shown = false;
  }
}
