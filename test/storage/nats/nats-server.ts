import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';

export const NATS_SERVER = '/usr/sbin/nats-server';
/** The user and password of a server started without a config file of its own. */
export const NATS_TEST_USER = 'tidemark';
export const NATS_TEST_PASSWORD = 'tidemark-test-password';
/** nats-server needs a while on a loaded machine to start listening. */
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;
const CLIENT_PORT_RE = /Listening for client connections on [^\s]*:(\d+)/;
const MONITOR_PORT_RE = /Starting http monitor on [^\s]*:(\d+)/;

export interface NatsTestServer {
  port: number;
  /** The HTTP monitoring port (/jsz, /connz). */
  monitorPort: number;
  /** `nats://127.0.0.1:PORT`. */
  url: string;
  dir: string;
  /** How the tests' own connection authenticates. */
  auth: ConnectionOptions;
  /** A plain client connection (for creating buckets and checking what a replica client stored). */
  raw(): Promise<NatsConnection>;
  createBucket(name: string): Promise<void>;
  /** JetStream API requests the server has answered so far (from /jsz). */
  apiRequests(): Promise<number>;
  stop(): Promise<void>;
}

export interface NatsServerOptions {
  /**
   * A config file's body (authorization, tls, …) in place of the --user and
   * --pass flags; `auth` says how the tests' own connection gets in.
   */
  config?: string;
  auth?: ConnectionOptions;
  /** false: a server without JetStream (default true). */
  jetstream?: boolean;
}

/**
 * Starts the Debian nats-server with JetStream on 127.0.0.1 and an ephemeral
 * port, a fresh store directory and the monitoring endpoint on, protected by
 * a user and password (or by what `config` sets up). Only this server is
 * stopped by stop().
 */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsTestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-nats-'));
  const args = [...(opts.jetstream === false ? [] : ['-js']), '-sd', join(dir, 'store'), '-a', '127.0.0.1', '-p', '-1', '-m', '-1'];
  let auth: ConnectionOptions = { user: NATS_TEST_USER, pass: NATS_TEST_PASSWORD };
  if (opts.config !== undefined) {
    const conf = join(dir, 'server.conf');
    writeFileSync(conf, opts.config);
    args.push('-c', conf);
    auth = opts.auth ?? {};
  } else {
    args.push('--user', NATS_TEST_USER, '--pass', NATS_TEST_PASSWORD);
  }
  const child: ChildProcess = spawn(NATS_SERVER, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stderr! });
  let log = '';
  let timer: NodeJS.Timeout | undefined;
  let port: number;
  let monitorPort: number;
  try {
    [port, monitorPort] = await new Promise<[number, number]>((resolve, reject) => {
      let client: number | undefined;
      let monitor: number | undefined;
      timer = setTimeout(() => reject(new Error(`nats-server did not start within ${START_TIMEOUT_MS} ms: ${log}`)), START_TIMEOUT_MS);
      lines.on('line', (line) => {
        log += line + '\n';
        client ??= matchPort(CLIENT_PORT_RE, line);
        monitor ??= matchPort(MONITOR_PORT_RE, line);
        if (client !== undefined && monitor !== undefined) resolve([client, monitor]);
      });
      child.once('exit', (code, sig) => reject(new Error(`nats-server exited before listening (exit ${code ?? sig}): ${log}`)));
    });
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  } finally {
    clearTimeout(timer);
  }
  const url = `nats://127.0.0.1:${port}`;
  const conns: NatsConnection[] = [];
  const raw = async (): Promise<NatsConnection> => {
    const nc = await connect({ servers: url, ...auth });
    conns.push(nc);
    return nc;
  };
  return {
    port,
    monitorPort,
    url,
    dir,
    auth,
    raw,
    async createBucket(name) {
      const nc = await raw();
      await new Objm(nc).create(name);
    },
    async apiRequests() {
      const res = await fetch(`http://127.0.0.1:${monitorPort}/jsz`);
      const body = (await res.json()) as { api?: { total?: number } };
      return body.api?.total ?? 0;
    },
    async stop() {
      for (const nc of conns) await nc.close().catch(() => undefined);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function matchPort(re: RegExp, line: string): number | undefined {
  const m = re.exec(line);
  return m === null ? undefined : Number(m[1]);
}
