import { stat } from 'node:fs/promises';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ReplicationStatus } from '../replication/db-replicator.js';
import type { ReplicaOperation, ReplicaOperationSink } from './metered-replica-client.js';

/** Litestream's buckets for litestream_replica_operation_duration_seconds. */
const OPERATION_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60];

/** One database as the metrics see it: a Store's `status()` entry. */
export type MetricsDatabase = ReplicationStatus & { readonly path: string };

/** The error code Litestream's operation-error metric carries: the error's own code, else its name. */
function errorCode(err: unknown): string {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
  }
  return err instanceof Error ? err.name : 'unknown';
}

function isDiskFull(err: Error | undefined): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === 'ENOSPC') return true;
  }
  return false;
}

/**
 * The replication metrics in Prometheus form, under Litestream's names and
 * labels so that its dashboards work unchanged, plus tidemark's own lag
 * metrics. Database figures are read from the databases' status when scraped
 * (nothing runs between scrapes); replica operations are counted as they
 * happen, through MeteredReplicaClient.
 */
export class ReplicationMetrics implements ReplicaOperationSink {
  readonly registry = new Registry();
  readonly #operations: Counter<'replica_type' | 'operation'>;
  readonly #operationBytes: Counter<'replica_type' | 'operation'>;
  readonly #operationSeconds: Histogram<'replica_type' | 'operation'>;
  readonly #operationErrors: Counter<'replica_type' | 'operation' | 'code'>;

  constructor(databases: () => readonly MetricsDatabase[], now: () => number = Date.now) {
    const registers = [this.registry];
    const perDb = (name: string, help: string, value: (d: MetricsDatabase) => number | Promise<number>): void => {
      new Gauge({
        name,
        help,
        labelNames: ['db'],
        registers,
        async collect() {
          this.reset();
          for (const d of databases()) this.set({ db: d.path }, await value(d));
        },
      });
    };
    const perDbCounter = (name: string, help: string, value: (d: MetricsDatabase) => number): void => {
      new Counter({
        name,
        help,
        labelNames: ['db'],
        registers,
        collect() {
          this.reset();
          for (const d of databases()) this.inc({ db: d.path }, value(d));
        },
      });
    };
    const perMode = (name: string, help: string, value: (c: { count: number; errors: number; seconds: number }) => number): void => {
      new Counter({
        name,
        help,
        labelNames: ['db', 'mode'],
        registers,
        collect() {
          this.reset();
          for (const d of databases()) {
            for (const mode of ['PASSIVE', 'TRUNCATE'] as const) this.inc({ db: d.path, mode }, value(d.counters.checkpoints[mode]));
          }
        },
      });
    };

    perDb('litestream_db_size', 'The current size of the real DB', (d) => stat(d.path).then((s) => s.size, () => 0));
    perDb('litestream_wal_size', 'The current size of the real WAL', (d) => d.walSize);
    perDb('litestream_txid', 'The current transaction ID', (d) => Number(d.localTxid));
    perDb('litestream_disk_full', 'Whether replication is paused because the local disk is full', (d) => (isDiskFull(d.lastError) ? 1 : 0));
    perDbCounter('litestream_total_wal_bytes', 'Total number of bytes written to shadow WAL', (d) => d.counters.walBytes);
    perDbCounter('litestream_sync_count', 'Number of sync operations performed', (d) => d.counters.syncs);
    perDbCounter('litestream_sync_error_count', 'Number of sync errors that have occurred', (d) => d.counters.syncErrors);
    perDbCounter('litestream_sync_seconds', 'Time spent syncing shadow WAL, in seconds', (d) => d.counters.syncSeconds);
    perMode('litestream_checkpoint_count', 'Number of checkpoint operations performed', (c) => c.count);
    perMode('litestream_checkpoint_error_count', 'Number of checkpoint errors that have occurred', (c) => c.errors);
    perMode('litestream_checkpoint_seconds', 'Time spent checkpointing WAL, in seconds', (c) => c.seconds);

    const perReplica = (name: string, help: string, value: (d: MetricsDatabase, r: MetricsDatabase['replicas'][number]) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['db', 'replica'],
        registers,
        collect() {
          this.reset();
          for (const d of databases()) for (const r of d.replicas) this.set({ db: d.path, replica: r.name }, value(d, r));
        },
      });
    };
    perReplica('tidemark_replica_txid', 'The newest TXID the replica holds', (_d, r) => Number(r.replicatedTxid));
    perReplica('tidemark_replica_lag_txids', 'Transactions committed locally that the replica does not hold yet', (d, r) =>
      Number(d.localTxid > r.replicatedTxid ? d.localTxid - r.replicatedTxid : 0n),
    );
    perReplica('tidemark_replica_lag_seconds', 'While the replica is behind, seconds since its last upload (0 when current)', (d, r) => {
      if (r.replicatedTxid >= d.localTxid) return 0;
      const since = r.lastUploadAt ?? d.lastSyncAt;
      return since === undefined ? 0 : Math.max(0, (now() - since.getTime()) / 1000);
    });
    perReplica('tidemark_replica_up', '1 while the replica has no upload error, else 0', (_d, r) => (r.lastError === undefined ? 1 : 0));
    perReplica('tidemark_validation_failed', '1 when the last validation of the replica found a divergence, else 0', (_d, r) =>
      r.validation !== undefined && r.validation.ok === false ? 1 : 0,
    );

    this.#operations = new Counter({ name: 'litestream_replica_operation_total', help: 'The number of replica operations performed', labelNames: ['replica_type', 'operation'], registers });
    this.#operationBytes = new Counter({ name: 'litestream_replica_operation_bytes', help: 'The number of bytes used by replica operations', labelNames: ['replica_type', 'operation'], registers });
    this.#operationSeconds = new Histogram({
      name: 'litestream_replica_operation_duration_seconds',
      help: 'Duration of replica operations by type and operation',
      labelNames: ['replica_type', 'operation'],
      buckets: OPERATION_BUCKETS,
      registers,
    });
    this.#operationErrors = new Counter({
      name: 'litestream_replica_operation_errors_total',
      help: 'Number of replica operation errors by type, operation, and error code',
      labelNames: ['replica_type', 'operation', 'code'],
      registers,
    });
  }

  operation(type: string, op: ReplicaOperation, bytes: number, seconds: number, error: unknown): void {
    const labels = { replica_type: type, operation: op };
    this.#operations.inc(labels);
    if (bytes > 0) this.#operationBytes.inc(labels, bytes);
    this.#operationSeconds.observe(labels, seconds);
    if (error !== undefined) this.#operationErrors.inc({ ...labels, code: errorCode(error) });
  }

  /** The exposition text of every metric, as GET /metrics serves it. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
