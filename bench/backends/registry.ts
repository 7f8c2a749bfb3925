/**
 * The backends `npm run bench:backends` measures, each with the loopback
 * server its tests start. `client(path, port)` makes a client for a path on
 * the server, reached through `port` (a counting proxy in front of the
 * server) when given.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import type { ReplicaClient } from '../../src/storage/replica-client.js';
import { testAbsClient } from '../../test/storage/abs/helpers.js';
import { startAbsServer } from '../../test/storage/abs/abs-server.js';
import { testS3Client } from '../../test/storage/s3/helpers.js';
import { startS3Server } from '../../test/storage/s3/s3-server.js';
import { testSftpClient } from '../../test/storage/sftp/helpers.js';
import { startSftpServer } from '../../test/storage/sftp/sftp-server.js';
import { testGsClient } from '../../test/storage/gs/helpers.js';
import { startGsServer } from '../../test/storage/gs/gs-server.js';
import { testNatsClient } from '../../test/storage/nats/helpers.js';
import { startNatsServer } from '../../test/storage/nats/nats-server.js';
import { testWebdavClient } from '../../test/storage/webdav/helpers.js';
import { startWebdavServer } from '../../test/storage/webdav/webdav-server.js';

export interface RunningBackend {
  /** The server's TCP port; undefined for the directory backend. */
  readonly port: number | undefined;
  /** A client for a fresh path (a NATS bucket is made for it). */
  client(path: string, port?: number): Promise<ReplicaClient>;
  stop(): Promise<void>;
}

export interface BenchBackend {
  readonly name: string;
  /** What serves it on loopback here. */
  readonly server: string;
  start(dir: string): Promise<RunningBackend>;
}

const BUCKET = 'tidemark-bench';

export const BENCH_BACKENDS: BenchBackend[] = [
  {
    name: 'file',
    server: 'local directory',
    async start(dir) {
      return {
        port: undefined,
        client: async (path) => new FileReplicaClient(join(dir, 'file-replica', path)),
        stop: async () => undefined,
      };
    },
  },
  {
    name: 's3',
    server: 's3rver (npm)',
    async start() {
      const s = await startS3Server([BUCKET]);
      return {
        port: s.port,
        client: async (path, port = s.port) => testS3Client(`http://127.0.0.1:${port}`, BUCKET, path),
        stop: () => s.stop(),
      };
    },
  },
  {
    name: 'abs',
    server: 'Azurite (npm)',
    async start() {
      const s = await startAbsServer([BUCKET]);
      const port = Number(new URL(s.endpoint).port);
      return {
        port,
        client: async (path, p = port) => testAbsClient(s.endpoint.replace(`:${port}`, `:${p}`), BUCKET, path),
        stop: () => s.stop(),
      };
    },
  },
  {
    name: 'sftp',
    server: 'OpenSSH sshd (Debian)',
    async start() {
      const s = await startSftpServer();
      const root = s.mkdir('bench');
      return {
        port: s.port,
        client: async (path, port = s.port) => {
          const d = join(root, path);
          mkdirSync(d, { recursive: true });
          return testSftpClient(s, d, {}, {}, port);
        },
        stop: () => s.stop(),
      };
    },
  },
  {
    name: 'webdav',
    server: 'rclone serve webdav (Debian)',
    async start() {
      const s = await startWebdavServer();
      return {
        port: s.port,
        client: async (path, port = s.port) => testWebdavClient(s, path, { port }),
        stop: () => s.stop(),
      };
    },
  },
  {
    name: 'gs',
    server: 'Cloud Storage emulator of firebase-tools (npm)',
    async start() {
      const s = await startGsServer();
      return {
        port: s.port,
        client: async (path, port = s.port) => testGsClient(`http://127.0.0.1:${port}`, BUCKET, path),
        stop: () => s.stop(),
      };
    },
  },
  {
    name: 'nats',
    server: 'nats-server with JetStream (Debian)',
    async start() {
      const s = await startNatsServer();
      return {
        port: s.port,
        client: async (path, port = s.port) => {
          // The object store keeps one replica per bucket, and Litestream does not create buckets.
          const bucket = `bench-${path}`;
          await s.createBucket(bucket);
          return testNatsClient(port, bucket);
        },
        stop: () => s.stop(),
      };
    },
  },
];
