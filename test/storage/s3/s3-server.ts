import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { S3Client } from '@aws-sdk/client-s3';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..', '..');
/** s3rver accepts any secret but only this access key id (and checks no V4 signature). */
export const S3RVER_ACCESS_KEY_ID = 'S3RVER';
export const S3RVER_SECRET_ACCESS_KEY = 'S3RVER';
/** How long the server child may take to start listening. */
const START_TIMEOUT_MS = 20_000;

export interface S3TestServerOptions {
  /** Serve HTTPS with this PEM key and certificate (file paths). */
  tls?: { keyPath: string; certPath: string };
}

export interface S3TestServer {
  /** `http://127.0.0.1:PORT` (https with TLS). */
  endpoint: string;
  port: number;
  /** The buckets created at start. */
  buckets: string[];
  /** A plain SDK client on the server, for checking what the replica client stored. */
  raw(): S3Client;
  /**
   * Sets an object's LastModified (whole seconds: s3rver reports it with
   * second precision). s3rver takes LastModified from the modification time
   * of the file it keeps the object's bytes in, `<bucket>/<key>._S3rver_object`
   * under its data directory, so that is the time set here.
   */
  setLastModified(bucket: string, key: string, time: Date): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts s3rver on 127.0.0.1 with an ephemeral port in a child process, with
 * a fresh data directory and the given buckets.
 */
export async function startS3Server(buckets: string[] = ['tidemark-test'], options: S3TestServerOptions = {}): Promise<S3TestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'tidemark-s3rver-'));
  const child: ChildProcess = spawn(
    process.execPath,
    ['--openssl-legacy-provider', '--import', 'tsx', join(HERE, 's3-server-child.ts'), join(dir, 'data'), ...buckets],
    {
      cwd: REPO,
      stdio: ['pipe', 'pipe', 'inherit'],
      env: options.tls === undefined ? process.env : { ...process.env, S3RVER_TLS_KEY: options.tls.keyPath, S3RVER_TLS_CERT: options.tls.certPath },
    },
  );
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  let port: number;
  try {
    const first = await Promise.race([
      lines.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`s3rver did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      }),
    ]);
    if (first.done === true) throw new Error(`s3rver exited before listening (exit ${child.exitCode ?? child.signalCode})`);
    port = (JSON.parse(first.value) as { port: number }).port;
  } catch (err) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  } finally {
    clearTimeout(timer);
  }
  const endpoint = `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
  const clients: S3Client[] = [];
  return {
    endpoint,
    port,
    buckets,
    raw() {
      process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
      const c = new S3Client({
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: S3RVER_SECRET_ACCESS_KEY },
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      clients.push(c);
      return c;
    },
    async setLastModified(bucket, key, time) {
      const parts = key.split('/');
      const file = join(dir, 'data', bucket, ...parts.slice(0, -1), `${parts.at(-1)!}._S3rver_object`);
      await utimes(file, time, time);
    },
    async stop() {
      for (const c of clients) c.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.stdin?.end();
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
