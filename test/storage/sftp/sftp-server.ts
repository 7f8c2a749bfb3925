import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const SSHD = '/usr/sbin/sshd';
/** sshd needs a while on a loaded machine to start listening. */
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

export interface SshKeyPair {
  /** Path of the private key (OpenSSH format, no passphrase). */
  privatePath: string;
  /** The public key as one authorized_keys line. */
  publicLine: string;
}

export interface SftpTestServer {
  port: number;
  /** The login user: the user the tests run as. */
  user: string;
  /** The server's host key as an authorized_keys line, what `host-key` pins. */
  hostKeyLine: string;
  /** A key the server accepts for `user`. */
  userKey: SshKeyPair;
  /** Everything of this server lives here. */
  dir: string;
  /** A fresh directory on the server's file system for one test. */
  mkdir(name: string): string;
  stop(): Promise<void>;
}

/** A new ed25519 key pair in `dir`. */
export function makeKeyPair(dir: string, name: string): SshKeyPair {
  const privatePath = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `tidemark-test-${name}`, '-f', privatePath], { stdio: 'ignore' });
  return { privatePath, publicLine: readFileSync(`${privatePath}.pub`, 'utf8').trim() };
}

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString('latin1').startsWith('SSH-'));
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Starts OpenSSH's sshd on a free loopback port with a config of its own:
 * its own host key, key authentication for the current user from its own
 * authorized_keys, password authentication (checked against /etc/shadow,
 * `UsePAM no`), and the in-process SFTP server. Only this sshd is stopped.
 */
export interface SftpServerOptions {
  extraConfig?: string[];
  /** Where relative SFTP paths start (internal-sftp -d), instead of the user's home directory. */
  startDir?: string;
}

export async function startSftpServer(opts: SftpServerOptions = {}): Promise<SftpTestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-sshd-'));
  chmodSync(dir, 0o755);
  mkdirSync('/run/sshd', { recursive: true });
  const hostKey = makeKeyPair(dir, 'host_ed25519');
  const userKey = makeKeyPair(dir, 'user_ed25519');
  const authorized = join(dir, 'authorized_keys');
  writeFileSync(authorized, userKey.publicLine + '\n', { mode: 0o600 });
  const user = userInfo().username;
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey.privatePath}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorized}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'PermitRootLogin yes',
      opts.startDir === undefined ? 'Subsystem sftp internal-sftp' : `Subsystem sftp internal-sftp -d ${opts.startDir}`,
      'LogLevel ERROR',
      ...(opts.extraConfig ?? []),
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started = Date.now();
  while (!(await accepts(port))) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}: ${stderr}`);
    if (Date.now() - started > START_TIMEOUT_MS) {
      child.kill('SIGKILL');
      throw new Error(`sshd did not accept connections on ${port} within ${START_TIMEOUT_MS} ms: ${stderr}`);
    }
    await sleep(50);
  }
  let n = 0;
  return {
    port,
    user,
    hostKeyLine: hostKey.publicLine,
    userKey,
    dir,
    mkdir(name: string): string {
      const d = join(dir, 'data', `${++n}-${name.replace(/\W+/g, '-')}`);
      mkdirSync(d, { recursive: true });
      return d;
    },
    async stop(): Promise<void> {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PasswordUser {
  name: string;
  password: string;
  /** Its login directory, owned by it. */
  home: string;
  remove(): void;
}

/**
 * A throwaway login with a random password (useradd, chpasswd) and its own
 * home directory in `parent`, for password authentication, which the test
 * user has no password for. Returns undefined where users cannot be made.
 */
export function makePasswordUser(parent: string): PasswordUser | undefined {
  const name = `tmsftp${randomBytes(3).toString('hex')}`;
  const password = randomBytes(12).toString('base64url');
  const home = join(parent, name);
  mkdirSync(home, { recursive: true });
  if (spawnSync('useradd', ['-M', '-d', home, '-s', '/bin/sh', name]).status !== 0) return undefined;
  const remove = (): void => void spawnSync('userdel', [name]);
  if (spawnSync('chpasswd', [], { input: `${name}:${password}\n` }).status !== 0 || spawnSync('chown', [name, home]).status !== 0) {
    remove();
    return undefined;
  }
  return { name, password, home, remove };
}
