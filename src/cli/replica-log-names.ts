import { resolve } from 'node:path';
import type { LogAttrs, Logger, LogLevel } from '../logger.js';
import type { StoreDatabase } from '../store/store.js';

/**
 * Makes `db=` and `replica=` read the same in every line the daemon logs:
 * the database as its absolute path, each replica as its display name. The
 * replication code names a replica by its short name among the database's
 * replicas (`file`, or the name given in the configuration); this logger
 * puts the display name in its place. Databases are registered as they
 * start, since a watched directory adds them at any time.
 */
export class ReplicaLogNames {
  readonly #names = new Map<string, Map<string, string>>();

  /** Notes the names of a database's replicas. */
  register(db: StoreDatabase): void {
    const names = new Map<string, string>();
    if (db.replicas !== undefined) for (const r of db.replicas) names.set(r.name, r.displayName ?? r.name);
    else if (db.client !== undefined) names.set(db.client.type, db.replicaName ?? db.client.type);
    this.#names.set(resolve(db.path), names);
  }

  /** `inner`, with the `db` and `replica` fields of every line rewritten. */
  wrap(inner: Logger): Logger {
    const rewrite = (attrs: LogAttrs): LogAttrs => {
      const db = attrs['db'];
      if (typeof db !== 'string') return attrs;
      const path = resolve(db);
      const replica = attrs['replica'];
      const shown = typeof replica === 'string' ? this.#names.get(path)?.get(replica) : undefined;
      return { ...attrs, db: path, ...(shown === undefined ? {} : { replica: shown }) };
    };
    const make = (base: LogAttrs): Logger => {
      const log = (level: LogLevel, msg: string, attrs?: LogAttrs): void => inner.log(level, msg, rewrite({ ...base, ...attrs }));
      return {
        log,
        debug: (msg, attrs) => log('debug', msg, attrs),
        info: (msg, attrs) => log('info', msg, attrs),
        warn: (msg, attrs) => log('warn', msg, attrs),
        error: (msg, attrs) => log('error', msg, attrs),
        with: (attrs) => make({ ...base, ...attrs }),
        enabled: (level) => inner.enabled(level),
      };
    };
    return make({});
  }
}
