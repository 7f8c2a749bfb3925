import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Storage } from '@google-cloud/storage';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The child's entry point: the emulator's HTTP app from firebase-tools, on loopback. */
const EMULATOR_MAIN = join(HERE, 'gs-emulator-main.mjs');
/** How long the emulator may take to start listening (firebase-tools loads slowly on a busy machine). */
const START_TIMEOUT_MS = 60_000;
const LISTENING_RE = /^listening (\d+)$/;

export interface GsTestServer {
  /** `http://127.0.0.1:PORT`: what STORAGE_EMULATOR_HOST is set to. */
  origin: string;
  port: number;
  /** A plain SDK client on the emulator, for setting up and checking what a replica client stored. */
  raw(): Storage;
  stop(): Promise<void>;
}

/**
 * Starts the Cloud Storage emulator of firebase-tools on 127.0.0.1 with an
 * ephemeral port in a child process, with a temporary directory of its own
 * (it keeps uploads under the OS temp dir). Buckets need no creating: the
 * emulator makes one on first use.
 */
export async function startGsServer(): Promise<GsTestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'tidemark-gcs-'));
  const child: ChildProcess = spawn(process.execPath, [EMULATOR_MAIN, '0'], {
    cwd: dir,
    env: { ...process.env, TMPDIR: dir, STORAGE_EMULATOR_HOST: undefined },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  let timer: NodeJS.Timeout | undefined;
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`the GCS emulator did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      lines.on('line', (line) => {
        const m = LISTENING_RE.exec(line);
        if (m !== null) resolve(Number(m[1]));
      });
      child.once('exit', (code, sig) => reject(new Error(`the GCS emulator exited before listening (exit ${code ?? sig})`)));
    });
  } catch (err) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  } finally {
    clearTimeout(timer);
  }
  // Anything more it logs is drained so the pipe never fills.
  child.stdout!.resume();
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    port,
    raw: () => new Storage({ apiEndpoint: origin, retryOptions: { autoRetry: false } }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
