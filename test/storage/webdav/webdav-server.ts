import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** Debian's rclone, whose `serve webdav` is the test server. */
export const RCLONE = '/usr/bin/rclone';
export const WEBDAV_TEST_USER = 'tidemark';
export const WEBDAV_TEST_PASSWORD = 'dav-secret';
/** How long rclone may take to start listening (the machine may be loaded). */
const START_TIMEOUT_MS = 30_000;
/**
 * rclone caches directory listings; files a test puts in `dir` directly show
 * up once the cache entry expires (see settleDirectWrites). At 0 every
 * PROPFIND re-reads the directory once per entry, a minute for a thousand files.
 */
export const DIR_CACHE_MS = 1000;
const STARTED_RE = /WebDav Server started on (https?:\/\/127\.0\.0\.1:(\d+))\//i;

export interface WebdavServerOptions {
  /** Serve HTTPS with a certificate from a throwaway CA (see `caPem`). */
  tls?: boolean;
  /** Refuse every write (rclone --read-only). */
  readOnly?: boolean;
  user?: string;
  password?: string;
}

export interface WebdavTestServer {
  /** `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`. */
  origin: string;
  port: number;
  /** The directory served: what the replica wrote can be checked here directly. */
  dir: string;
  /** The CA that signed the server's certificate (PEM), for a webdavs:// server. */
  caPem: string | undefined;
  /** The file holding caPem, for NODE_EXTRA_CA_CERTS in a child process. */
  caFile: string | undefined;
  user: string;
  password: string;
  stop(): Promise<void>;
}

/** Waits until files written straight into a served directory are visible over WebDAV. */
export async function settleDirectWrites(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, DIR_CACHE_MS + 200));
}

/** A CA and a certificate for 127.0.0.1 signed by it, made with the openssl command line. */
function makeCertificates(dir: string): { caFile: string; certFile: string; keyFile: string } {
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.pem');
  const keyFile = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const certFile = join(dir, 'server.pem');
  const ext = join(dir, 'server.ext');
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', '/CN=tidemark test CA']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', '/CN=127.0.0.1']);
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  run(['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', ext]);
  return { caFile, certFile, keyFile };
}

/**
 * Starts `rclone serve webdav` on 127.0.0.1 with an ephemeral port, serving
 * a fresh directory with one user, and resolves once it says it is
 * listening. Exported for the benchmark as well as the tests.
 */
export async function startWebdavServer(opts: WebdavServerOptions = {}): Promise<WebdavTestServer> {
  const base = mkdtempSync(join(tmpdir(), 'tidemark-webdav-'));
  const dir = join(base, 'data');
  mkdirSync(dir);
  const user = opts.user ?? WEBDAV_TEST_USER;
  const password = opts.password ?? WEBDAV_TEST_PASSWORD;
  const args = ['serve', 'webdav', dir, '--addr', '127.0.0.1:0', '--user', user, '--pass', password, '--config', '/dev/null', '-v', '--dir-cache-time', `${DIR_CACHE_MS}ms`];
  let caFile: string | undefined;
  if (opts.tls === true) {
    const certs = makeCertificates(base);
    caFile = certs.caFile;
    args.push('--cert', certs.certFile, '--key', certs.keyFile);
  }
  if (opts.readOnly === true) args.push('--read-only');
  const child: ChildProcess = spawn(RCLONE, args, { cwd: base, stdio: ['ignore', 'ignore', 'pipe'] });
  const lines = createInterface({ input: child.stderr! });
  let timer: NodeJS.Timeout | undefined;
  let origin: string;
  let port: number;
  const log: string[] = [];
  try {
    [origin, port] = await new Promise<[string, number]>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`rclone serve webdav did not start within ${START_TIMEOUT_MS} ms: ${log.join(' | ')}`)), START_TIMEOUT_MS);
      lines.on('line', (line) => {
        if (log.length < 20) log.push(line);
        const m = STARTED_RE.exec(line);
        if (m !== null) resolve([m[1]!, Number(m[2])]);
      });
      child.once('error', reject);
      child.once('exit', (code, sig) => reject(new Error(`rclone exited before listening (exit ${code ?? sig}): ${log.join(' | ')}`)));
    });
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(base, { recursive: true, force: true });
    throw err;
  } finally {
    clearTimeout(timer);
  }
  // rclone logs each request with -v; the pipe is drained so it never fills.
  lines.removeAllListeners('line');
  lines.on('line', () => undefined);
  return {
    origin,
    port,
    dir,
    caPem: caFile === undefined ? undefined : readFileSync(caFile, 'utf8'),
    caFile,
    user,
    password,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(base, { recursive: true, force: true });
    },
  };
}
