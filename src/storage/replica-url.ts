import { posix, resolve } from 'node:path';
import { ReplicaUrlError } from './errors.js';
import { FileReplicaClient } from './file-replica-client.js';
import type { ReplicaClient } from './replica-client.js';
import { LazyReplicaClient, LazyRawObjectReplicaClient } from './lazy-replica-client.js';
import { describeAbsReplica, resolveAbsSettings, type AbsSettings } from './abs/abs-settings.js';
import { describeGsReplica, resolveGsSettings, type GsSettings } from './gs/gs-settings.js';
import { describeS3Replica, resolveS3Settings, type S3Settings } from './s3/s3-settings.js';
import { resolveOssSettings } from './oss/oss-settings.js';
import { describeSftpReplica, resolveSftpSettings, type SftpSettings } from './sftp/sftp-settings.js';
import { AgeReplicaClient } from './age/age-replica-client.js';
import { resolveAgeSettings } from './age/age-settings.js';
import { redactUrl } from './errors.js';
import { describeNatsReplica, resolveNatsSettings, type NatsSettings } from './nats/nats-settings.js';
import { describeWebdavReplica, resolveWebdavSettings, type WebdavSettings } from './webdav/webdav-settings.js';

/** Every scheme Litestream v0.5 accepts in a replica URL. */
export const REPLICA_URL_SCHEMES = ['file', 's3', 'gs', 'abs', 'sftp', 'webdav', 'webdavs', 'nats', 'oss'] as const;
export type ReplicaUrlScheme = (typeof REPLICA_URL_SCHEMES)[number];
export type RemoteReplicaScheme = Exclude<ReplicaUrlScheme, 'file'>;

/**
 * The optional peer packages each backend loads on first use; file, S3 and
 * OSS need none beyond tidemark's own dependencies.
 */
export const REPLICA_BACKEND_PACKAGES: Readonly<Record<ReplicaUrlScheme, readonly string[]>> = {
  file: [],
  s3: [],
  oss: [],
  gs: ['@google-cloud/storage'],
  abs: ['@azure/storage-blob'],
  sftp: ['ssh2'],
  webdav: ['webdav'],
  webdavs: ['webdav'],
  nats: ['@nats-io/transport-node', '@nats-io/obj'],
};

/** Whether a package resolves from here, which is where a backend imports it from. */
function packageInstalled(name: string): boolean {
  try {
    import.meta.resolve(name);
    return true;
  } catch {
    return false;
  }
}

/** The schemes this installation can replicate to: those whose backend packages are installed. */
export function availableReplicaSchemes(isInstalled: (packageName: string) => boolean = packageInstalled): ReplicaUrlScheme[] {
  return REPLICA_URL_SCHEMES.filter((scheme) => REPLICA_BACKEND_PACKAGES[scheme].every((p) => isInstalled(p)));
}

export interface FileReplicaUrl {
  scheme: 'file';
  /** Absolute, normalised directory path. */
  path: string;
}

export interface ReplicaUrlUserinfo {
  username: string;
  password: string | undefined;
}

export interface RemoteReplicaUrl {
  scheme: RemoteReplicaScheme;
  /** Bucket, container, or host[:port], as written; for an S3 access point, the ARN up to the access point name. */
  host: string;
  /** Key prefix or remote directory: decoded, cleaned, without leading or trailing '/'; '' when there is none. */
  path: string;
  query: URLSearchParams;
  userinfo: ReplicaUrlUserinfo | undefined;
}

export type ReplicaUrl = FileReplicaUrl | RemoteReplicaUrl;

const URL_RE = /^\w+:\/\//;

/** What the authority part of each scheme's URL names, for error messages. */
const AUTHORITY_NAME: Record<RemoteReplicaScheme, string> = {
  s3: 'bucket',
  gs: 'bucket',
  abs: 'container',
  sftp: 'host',
  webdav: 'host',
  webdavs: 'host',
  nats: 'host',
  oss: 'bucket',
};

/** The same test Litestream uses to tell a replica URL from a path. */
export function isUrl(s: string): boolean {
  return URL_RE.test(s);
}

/**
 * Parses a replica URL, or a plain path meaning a directory replica. Parsing
 * follows Litestream: for `file://` everything after the scheme is cleaned as
 * a path (so `file://dir/x` is `/dir/x`) and the query is dropped; for other
 * schemes the path is cleaned and loses its leading '/'.
 */
export function parseReplicaUrl(s: string): ReplicaUrl {
  if (s === '') throw new ReplicaUrlError(s, 'empty replica URL or path');
  if (s.includes('\0')) throw new ReplicaUrlError(s, 'contains a NUL byte');
  if (!isUrl(s)) return { scheme: 'file', path: resolve(s) };

  const scheme = s.slice(0, s.indexOf('://')).toLowerCase();
  if (scheme === 'file') return parseFileUrl(s);
  if (!isRemoteScheme(scheme)) {
    throw new ReplicaUrlError(s, `unknown scheme '${scheme}' (supported: ${availableReplicaSchemes().join(', ')})`);
  }
  if (scheme === 's3' && S3_ARN_RE.test(s)) return parseS3AccessPoint(s);

  let u: URL;
  try {
    u = new URL(s);
  } catch (err) {
    throw new ReplicaUrlError(s, 'malformed URL', { cause: err });
  }
  if (u.host === '') throw new ReplicaUrlError(s, `missing ${AUTHORITY_NAME[scheme]}`);
  const userinfo =
    u.username === '' && u.password === ''
      ? undefined
      : { username: decode(s, u.username), password: u.password === '' ? undefined : decode(s, u.password) };
  return {
    scheme,
    host: u.host,
    path: cleanRemotePath(s, u.pathname),
    query: new URLSearchParams(u.search),
    userinfo,
  };
}

/**
 * How a replica is shown in logs and messages, the same whichever way it was
 * given: a directory as `file://` and its absolute path, any other URL as
 * written, without a password.
 */
export function replicaDisplayName(url: string): string {
  if (BARE_S3_URL_RE.test(url)) return redactUrl(url);
  try {
    const u = parseReplicaUrl(url);
    if (u.scheme === 'file') return `file://${u.path}`;
  } catch {
    // An unparsable URL is shown as written; parsing it again reports the error where it matters.
  }
  return redactUrl(url);
}

function isRemoteScheme(scheme: string): scheme is RemoteReplicaScheme {
  return scheme !== 'file' && (REPLICA_URL_SCHEMES as readonly string[]).includes(scheme);
}

/**
 * `file:///abs/path` and `file://localhost/abs/path` (RFC 8089) name an
 * absolute directory; `file://relative/path` names `relative/path` under the
 * working directory, as the same text would without the scheme. Litestream
 * v0.5 reads the last form as `/relative/path` instead, so the config loader
 * warns where a file URL has that form (isRelativeFileUrl).
 */
function parseFileUrl(s: string): FileReplicaUrl {
  const rest = s.slice('file://'.length).replace(/[?#].*$/s, '');
  const decoded = decode(s, rest);
  if (decoded === '') throw new ReplicaUrlError(s, 'file URL has no path');
  const absolute = decoded.startsWith('/') ? decoded : FILE_URL_LOCALHOST_RE.test(decoded) ? decoded.slice('localhost'.length) || '/' : undefined;
  const path = absolute === undefined ? resolve(decoded) : posix.normalize(absolute);
  return { scheme: 'file', path: path.length > 1 ? path.replace(/\/+$/, '') : path };
}

const FILE_URL_LOCALHOST_RE = /^localhost(\/|$)/i;

/** `file://x/...` with a first segment that is not `localhost`: a path relative to the working directory. */
export function isRelativeFileUrl(s: string): boolean {
  if (!/^file:\/\//i.test(s)) return false;
  const rest = s.slice('file://'.length);
  return rest !== '' && !rest.startsWith('/') && !/^[?#]/.test(rest) && !FILE_URL_LOCALHOST_RE.test(rest);
}

/**
 * `s3://arn:<partition>:s3:<region>:<account>:accesspoint/<name>[/key][?query]`:
 * the colons make it an invalid URL authority, so it is split by hand.
 */
const S3_ARN_RE = /^s3:\/\/(arn:[^:/?#]+:s3:[^:/?#]*:[^:/?#]*:accesspoint\/[^/?#]+)([^?#]*)(\?[^#]*)?(#.*)?$/is;

function parseS3AccessPoint(s: string): RemoteReplicaUrl {
  const m = S3_ARN_RE.exec(s)!;
  return {
    scheme: 's3',
    host: m[1]!,
    path: cleanRemotePath(s, m[2]!),
    query: new URLSearchParams(m[3] ?? ''),
    userinfo: undefined,
  };
}

function cleanRemotePath(url: string, rawPath: string): string {
  const clean = posix.normalize('/' + decode(url, rawPath));
  return clean.replace(/^\/+/, '').replace(/\/+$/, '');
}

function decode(url: string, s: string): string {
  try {
    return decodeURIComponent(s);
  } catch (err) {
    throw new ReplicaUrlError(url, `malformed percent-encoding in ${JSON.stringify(s)}`, { cause: err });
  }
}

/**
 * A replica's configuration keys as Litestream's YAML names them (kebab-case:
 * `endpoint`, `region`, `force-path-style`, `part-size`, `access-key-id`, …),
 * passed through by a config loader. Keys a backend does not use are ignored.
 */
export type ReplicaClientOptions = Readonly<Record<string, string | number | boolean | undefined>>;

/** A bare `s3://`: the replica is configured by its options (bucket, path, …) rather than by a URL. */
const BARE_S3_URL_RE = /^s3:\/\/\/?$/i;

/**
 * The client for a replica URL or path, with the replica's configuration keys
 * merged in as Litestream merges them (see resolveS3Settings for S3,
 * resolveAbsSettings for Azure, resolveSftpSettings for SFTP). The
 * directory, S3, Azure Blob Storage and SFTP backends exist; the other
 * schemes Litestream supports are recognised and refused.
 */
export function createReplicaClient(url: string, options: ReplicaClientOptions = {}): ReplicaClient {
  // An `age` block wraps whichever backend holds the replica; see docs/encryption.md.
  const name = redactUrl(url);
  const age = resolveAgeSettings(`replica ${name}`, options);
  const client = createBackendClient(url, options);
  return age === undefined ? client : new AgeReplicaClient(client, age, `replica ${name}`);
}

function createBackendClient(url: string, options: ReplicaClientOptions): ReplicaClient {
  if (BARE_S3_URL_RE.test(url)) return lazyS3Client(resolveS3Settings(undefined, url, options));
  const u = parseReplicaUrl(url);
  if (u.scheme === 'file') return new FileReplicaClient(u.path);
  if (u.scheme === 's3') return lazyS3Client(resolveS3Settings(u, url, options));
  if (u.scheme === 'abs') return lazyAbsClient(resolveAbsSettings(u, url, options));
  if (u.scheme === 'sftp') return lazySftpClient(resolveSftpSettings(u, url, options));
  if (u.scheme === 'oss') return lazyOssClient(resolveOssSettings(u, url, options));
  if (u.scheme === 'webdav' || u.scheme === 'webdavs') return lazyWebdavClient(resolveWebdavSettings(u, url, options));
  if (u.scheme === 'nats') return lazyNatsClient(resolveNatsSettings(u, url, options));
  if (u.scheme === 'gs') return lazyGsClient(resolveGsSettings(u, url, options));
  // parseReplicaUrl accepts no other scheme.
  const unreachable: never = u.scheme;
  throw new ReplicaUrlError(url, `backend '${String(unreachable)}' is not available`);
}

/**
 * Settings are checked now, so a bad option fails at once; the S3 backend
 * (and the AWS SDK under it) loads on first use. Construct S3ReplicaClient
 * directly for its S3-specific members.
 */
function lazyS3Client(settings: S3Settings): ReplicaClient {
  return new LazyRawObjectReplicaClient('s3', describeS3Replica(settings), async () => {
    const { S3ReplicaClient } = await import('./s3/s3-replica-client.js');
    return new S3ReplicaClient(settings);
  });
}

/** OSS through its S3-compatible API: the S3 backend; Litestream v0.3 had no OSS replica, so there are no v0.3 backups to read. */
function lazyOssClient(settings: S3Settings): ReplicaClient {
  return new LazyReplicaClient('oss', describeS3Replica(settings), async () => {
    const { S3ReplicaClient } = await import('./s3/s3-replica-client.js');
    return new S3ReplicaClient(settings);
  });
}

/** As lazyS3Client: settings checked now, the backend and @azure/storage-blob loaded on first use. */
function lazyAbsClient(settings: AbsSettings): ReplicaClient {
  return new LazyReplicaClient('abs', describeAbsReplica(settings), async () => {
    const { AbsReplicaClient } = await import('./abs/abs-replica-client.js');
    return new AbsReplicaClient(settings);
  });
}

/** As lazyS3Client: settings (and a named key file) checked now, the backend and @google-cloud/storage loaded on first use. */
function lazyGsClient(settings: GsSettings): ReplicaClient {
  return new LazyReplicaClient('gs', describeGsReplica(settings), async () => {
    const { GsReplicaClient } = await import('./gs/gs-replica-client.js');
    return new GsReplicaClient(settings);
  });
}

/** As for S3: settings (and the key file) are checked now, ssh2 loads on first use; it reads Litestream v0.3 backups too. */
function lazySftpClient(settings: SftpSettings): ReplicaClient {
  return new LazyRawObjectReplicaClient('sftp', describeSftpReplica(settings), async () => {
    const { SftpReplicaClient } = await import('./sftp/sftp-replica-client.js');
    return new SftpReplicaClient(settings);
  });
}

/** As lazyAbsClient: settings checked now, the backend and the webdav package loaded on first use. */
function lazyWebdavClient(settings: WebdavSettings): ReplicaClient {
  return new LazyReplicaClient('webdav', describeWebdavReplica(settings), async () => {
    const { WebdavReplicaClient } = await import('./webdav/webdav-replica-client.js');
    return new WebdavReplicaClient(settings);
  });
}

/** As lazyAbsClient: settings (and the files they name) checked now, the NATS client packages loaded on first use. */
function lazyNatsClient(settings: NatsSettings): ReplicaClient {
  return new LazyReplicaClient('nats', describeNatsReplica(settings), async () => {
    const { NatsReplicaClient } = await import('./nats/nats-replica-client.js');
    return new NatsReplicaClient(settings);
  });
}
