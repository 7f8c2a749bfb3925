import { watch, type FSWatcher } from 'node:fs';
import { expandDirDatabases } from '../config/databases.js';
import type { DbConfig, ResolvedDatabase } from '../config/types.js';
import { silentLogger, type Logger } from '../logger.js';

/**
 * A slow rescan as well as the file system events: events can be missed
 * (a watcher limit reached, a network file system), and a rescan is a
 * directory listing per poll, cheap enough for an idle daemon.
 */
export const DEFAULT_DIR_RESCAN_INTERVAL_MS = 10_000;
/** Events arrive in bursts (a database and its -wal and -shm); one rescan covers a burst. */
export const DIR_EVENT_DEBOUNCE_MS = 100;

export interface DirWatcherOptions {
  readonly entry: DbConfig;
  /** A database that appeared (or was there at start). */
  readonly onAdd: (db: ResolvedDatabase) => Promise<void>;
  /** A database that is gone. */
  readonly onRemove: (path: string) => Promise<void>;
  readonly rescanIntervalMs?: number;
  readonly logger?: Logger;
}

/**
 * Keeps the databases of a `dir:` entry with `watch: true` in step with the
 * directory: databases created later are added and removed ones released,
 * without a restart.
 */
export class DirWatcher {
  readonly #o: DirWatcherOptions;
  readonly #log: Logger;
  readonly #known = new Set<string>();
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #scanning: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(options: DirWatcherOptions) {
    if (options.entry.dir === undefined) throw new TypeError('DirWatcher needs a dir: entry');
    this.#o = options;
    this.#log = (options.logger ?? silentLogger).with({ dir: options.entry.dir.path });
  }

  /** Scans once (adding what is there) and then follows the directory. */
  async start(): Promise<void> {
    await this.rescan();
    if (this.#stopped) return;
    const dir = this.#o.entry.dir!;
    try {
      this.#watcher = watch(dir.path, { recursive: dir.recursive, persistent: false }, () => this.#schedule());
      this.#watcher.on('error', (err) => this.#log.warn('directory watch failed; relying on periodic rescans', { error: err.message }));
    } catch (err) {
      this.#log.warn('cannot watch directory; relying on periodic rescans', { error: (err as Error).message });
    }
    this.#poll = setInterval(() => void this.rescan(), this.#o.rescanIntervalMs ?? DEFAULT_DIR_RESCAN_INTERVAL_MS);
    this.#poll.unref();
  }

  get paths(): string[] {
    return [...this.#known];
  }

  /** Lists the directory and adds or removes the difference. Concurrent calls fold into one more scan. */
  rescan(): Promise<void> {
    if (this.#scanning !== undefined) {
      this.#again = true;
      return this.#scanning;
    }
    this.#scanning = (async () => {
      try {
        do {
          this.#again = false;
          await this.#scanOnce();
        } while (this.#again && !this.#stopped);
      } finally {
        this.#scanning = undefined;
      }
    })();
    return this.#scanning;
  }

  async #scanOnce(): Promise<void> {
    let found: ResolvedDatabase[];
    try {
      found = await expandDirDatabases(this.#o.entry);
    } catch (err) {
      this.#log.warn('directory scan failed', { error: (err as Error).message });
      return;
    }
    const now = new Set(found.map((d) => d.path));
    for (const db of found) {
      if (this.#stopped || this.#known.has(db.path)) continue;
      try {
        await this.#o.onAdd(db);
        this.#known.add(db.path);
      } catch (err) {
        this.#log.error('cannot replicate a database found in the directory', { db: db.path, error: (err as Error).message });
      }
    }
    for (const path of [...this.#known]) {
      if (this.#stopped || now.has(path)) continue;
      this.#known.delete(path);
      try {
        await this.#o.onRemove(path);
      } catch (err) {
        this.#log.warn('releasing a removed database reported an error', { db: path, error: (err as Error).message });
      }
    }
  }

  #schedule(): void {
    if (this.#stopped || this.#debounce !== undefined) return;
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      void this.rescan();
    }, DIR_EVENT_DEBOUNCE_MS);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watcher?.close();
    if (this.#poll !== undefined) clearInterval(this.#poll);
    if (this.#debounce !== undefined) clearTimeout(this.#debounce);
    await this.#scanning;
  }
}
