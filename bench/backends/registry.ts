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
import { testWebdavClient } from '../../test/storage/webdav/helpers.js';
import { startWebdavServer } from '../../test/storage/webdav/webdav-server.js';

export interface RunningBackend {
  /** The server's TCP port; undefined for the directory backend. */
  readonly port: number | undefined;
  client(path: string, port?: number): ReplicaClient;
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
        client: (path) => new FileReplicaClient(join(dir, 'file-replica', path)),
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
        client: (path, port = s.port) => testS3Client(`http://127.0.0.1:${port}`, BUCKET, path),
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
        client: (path, p = port) => testAbsClient(s.endpoint.replace(`:${port}`, `:${p}`), BUCKET, path),
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
        client: (path, port = s.port) => {
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
        client: (path, port = s.port) => testWebdavClient(s, path, { port }),
        stop: () => s.stop(),
      };
    },
  },
];
