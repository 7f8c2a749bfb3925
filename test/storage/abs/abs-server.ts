import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..', '..');
/** Azurite's blob service entry point (what node_modules/.bin/azurite-blob runs). */
const AZURITE_BLOB_MAIN = join(REPO, 'node_modules', 'azurite', 'dist', 'src', 'blob', 'main.js');
/** The development storage account every Azurite has, and its published key. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
/** How long Azurite may take to start listening (the machine may be loaded). */
const START_TIMEOUT_MS = 30_000;
const LISTENING_RE = /listens on https?:\/\/127\.0\.0\.1:(\d+)/;

export interface AbsTestServer {
  /** `http://127.0.0.1:PORT`, without the account. */
  origin: string;
  /** `http://127.0.0.1:PORT/devstoreaccount1`, the blob service endpoint of the dev account. */
  endpoint: string;
  port: number;
  /** A plain SDK client on the server (the dev account's key), for setting up and checking what a replica client stored. */
  raw(): BlobServiceClient;
  createContainer(name: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts Azurite's blob service on 127.0.0.1 with an ephemeral port in a
 * child process, with a fresh data directory and the given containers.
 */
export async function startAbsServer(containers: string[] = []): Promise<AbsTestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'tidemark-azurite-'));
  const child: ChildProcess = spawn(
    process.execPath,
    [AZURITE_BLOB_MAIN, '--blobHost', '127.0.0.1', '--blobPort', '0', '--location', dir, '--disableTelemetry', '--skipApiVersionCheck', '--loose'],
    { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout! });
  let timer: NodeJS.Timeout | undefined;
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`Azurite did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      lines.on('line', (line) => {
        const m = LISTENING_RE.exec(line);
        if (m !== null) resolve(Number(m[1]));
      });
      child.once('exit', (code, sig) => reject(new Error(`Azurite exited before listening (exit ${code ?? sig})`)));
    });
  } catch (err) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  } finally {
    clearTimeout(timer);
  }
  // Azurite keeps logging requests on stdout with --debug only; anything else is drained so the pipe never fills.
  child.stdout!.resume();
  const origin = `http://127.0.0.1:${port}`;
  const endpoint = `${origin}/${AZURITE_ACCOUNT}`;
  const raw = (): BlobServiceClient => new BlobServiceClient(endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY));
  const server: AbsTestServer = {
    origin,
    endpoint,
    port,
    raw,
    async createContainer(name) {
      await raw().getContainerClient(name).createIfNotExists();
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const c of containers) await server.createContainer(c);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}
