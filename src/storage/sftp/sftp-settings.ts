import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { ReplicaUrlError } from '../errors.js';
import type { RemoteReplicaUrl, ReplicaClientOptions } from '../replica-url.js';
import { parseHostKeyLine, type PinnedHostKey } from './sftp-host-key.js';

/** The SSH port when the URL names none. */
export const DEFAULT_SFTP_PORT = 22;
/** Litestream's ConcurrentWrites default: write requests are pipelined. */
export const DEFAULT_SFTP_CONCURRENT_WRITES = true;
/** A private key file larger than this is not a key (a 16384-bit RSA key in PEM is under 13 KB). */
const MAX_KEY_FILE_BYTES = 64 * 1024;

type ReplicaOptionValue = ReplicaClientOptions[string];

/** Everything an SFTP replica client needs, resolved from the URL and the replica options. */
export interface SftpSettings {
  /** Host name or address, without brackets or port. */
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  /** The key-path setting as written, for messages. */
  keyPath: string | undefined;
  /** Contents of the key-path file. */
  privateKey: Buffer | undefined;
  /** undefined: the server's host key is not checked (Litestream's behaviour), and a warning says so. */
  hostKey: PinnedHostKey | undefined;
  /**
   * The replica directory on the server: relative paths are resolved by the
   * server against the login directory; '' is the login directory itself.
   */
  path: string;
  concurrentWrites: boolean;
}

/**
 * Works out an SFTP replica's settings:
 * - `sftp://user[:password]@host[:port]/path`, port 22 by default;
 * - the URL path is relative to the login directory, as Litestream's URL
 *   parsing makes it; a path written with two leading slashes
 *   (`sftp://host//srv/backups`) is absolute, which is how a config file's
 *   absolute `path` (or a config `url`, whose path Litestream keeps absolute)
 *   reaches this resolver;
 * - the `user` and `password` options win over the URL's userinfo, as in Litestream's config;
 * - `key-path` is read now, so an unreadable key fails at start-up and names that setting;
 * - `host-key` must be one authorized_keys line.
 */
export function resolveSftpSettings(url: RemoteReplicaUrl, rawUrl: string, options: ReplicaClientOptions = {}): SftpSettings {
  const fail = (reason: string): never => {
    throw new ReplicaUrlError(rawUrl, reason);
  };
  const opt = (key: string): string | undefined => optString(options[key], key, fail);

  let parsed: URL;
  try {
    parsed = new URL(rawUrl);
  } catch (err) {
    throw new ReplicaUrlError(rawUrl, 'malformed URL', { cause: err });
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') fail('host required for an sftp replica (sftp://user@host/path)');
  const port = parsed.port === '' ? DEFAULT_SFTP_PORT : Number(parsed.port);
  if (!Number.isSafeInteger(port) || port < 1 || port > 65535) fail(`port ${parsed.port} is not a TCP port`);

  const user = opt('user') ?? nonEmpty(url.userinfo?.username);
  if (user === undefined) fail("user required for an sftp replica (sftp://user@host/path, or the 'user' option)");
  const password = opt('password') ?? nonEmpty(url.userinfo?.password);

  const keyPath = opt('key-path');
  const privateKey = keyPath === undefined ? undefined : readKeyFile(keyPath, fail);

  const hostKeyLine = opt('host-key');
  let hostKey: PinnedHostKey | undefined;
  if (hostKeyLine !== undefined) {
    const r = parseHostKeyLine(hostKeyLine);
    if (typeof r === 'string') fail(`host-key: ${r}`);
    hostKey = r as PinnedHostKey;
  }

  const concurrentWrites = optBool(options['concurrent-writes'], 'concurrent-writes', fail) ?? DEFAULT_SFTP_CONCURRENT_WRITES;
  const absolute = parsed.pathname.startsWith('//');
  const path = absolute ? `/${url.path}` : url.path;
  return { host, port, user: user!, password, keyPath, privateKey, hostKey, path, concurrentWrites };
}

/** `sftp://user@host:port/path`, how a replica is named in messages (never with a password). */
export function describeSftpReplica(s: Pick<SftpSettings, 'user' | 'host' | 'port' | 'path'>): string {
  const host = s.host.includes(':') ? `[${s.host}]` : s.host;
  const path = s.path.startsWith('/') ? `/${s.path}` : s.path === '' ? '' : `/${s.path}`;
  return `sftp://${s.user}@${host}:${s.port}${path}`;
}

function readKeyFile(keyPath: string, fail: (reason: string) => never): Buffer {
  const file = keyPath.startsWith('~/') ? homedir() + keyPath.slice(1) : keyPath;
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return fail(`cannot read key-path ${JSON.stringify(keyPath)}: ${typeof code === 'string' ? code : String(err)}`);
  }
  if (data.length === 0 || data.length > MAX_KEY_FILE_BYTES) fail(`key-path ${JSON.stringify(keyPath)} does not hold a private key`);
  return data;
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

function optString(v: ReplicaOptionValue, key: string, fail: (reason: string) => never): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') fail(`option ${key} must be a string, got ${JSON.stringify(v)}`);
  return v as string;
}

function optBool(v: ReplicaOptionValue, key: string, fail: (reason: string) => never): boolean | undefined {
  if (v === undefined || v === '' || typeof v === 'boolean') return v === '' ? undefined : v;
  const w = String(v).toLowerCase();
  if (['true', '1', 't', 'yes'].includes(w)) return true;
  if (['false', '0', 'f', 'no'].includes(w)) return false;
  return fail(`option ${key} must be true or false, got ${JSON.stringify(v)}`);
}
