import { ReplicaUrlError } from '../errors.js';
import type { RemoteReplicaUrl, ReplicaClientOptions } from '../replica-url.js';

type ReplicaOptionValue = ReplicaClientOptions[string];
type Fail = (reason: string) => never;

/** Everything a WebDAV replica client needs, resolved from the URL and the replica options. */
export interface WebdavSettings {
  /** `http://host[:port]` for webdav://, `https://host[:port]` for webdavs://. */
  origin: string;
  /** The replica collection below the origin, without leading or trailing '/'; '' for the server root. */
  path: string;
  /** undefined: requests go without credentials. */
  username: string | undefined;
  password: string | undefined;
  /** Where the credentials came from, for an authentication-failed hint. */
  credentialSource: string;
}

/**
 * Works out a WebDAV replica's settings as Litestream does:
 * - `webdav://[user[:password]@]host[:port]/path` speaks HTTP,
 *   `webdavs://…` HTTPS; the path is the replica's collection on the server;
 * - a config file's `webdav-url` (plus `path`) arrives here already turned
 *   into such a URL by the config loader;
 * - `webdav-username` and `webdav-password` win over the URL's userinfo,
 *   as in Litestream's config; a query string is ignored, as Litestream
 *   ignores it. Litestream reads no environment variable for
 *   WebDAV credentials, and neither does tidemark.
 */
export function resolveWebdavSettings(url: RemoteReplicaUrl, rawUrl: string, options: ReplicaClientOptions = {}): WebdavSettings {
  const fail: Fail = (reason) => {
    throw new ReplicaUrlError(rawUrl, reason);
  };
  const opt = (key: string): string | undefined => optString(options[key], key, fail);
  if (url.scheme !== 'webdav' && url.scheme !== 'webdavs') fail(`not a webdav URL (scheme ${url.scheme})`);

  let parsed: URL;
  try {
    parsed = new URL(rawUrl);
  } catch (err) {
    throw new ReplicaUrlError(rawUrl, 'malformed URL', { cause: err });
  }
  if (parsed.hostname === '') fail('host required for a webdav replica (webdav://host/path)');
  if (parsed.port !== '') {
    const port = Number(parsed.port);
    if (!Number.isSafeInteger(port) || port < 1 || port > 65535) fail(`port ${parsed.port} is not a TCP port`);
  }
  // Host names do not depend on case; a webdav: URL is not one WHATWG URL parsing lowercases for us.
  const origin = `${url.scheme === 'webdavs' ? 'https' : 'http'}://${parsed.host.toLowerCase()}`;

  const optUser = opt('webdav-username');
  const optPassword = opt('webdav-password');
  const username = optUser ?? nonEmpty(url.userinfo?.username);
  const password = optPassword ?? url.userinfo?.password;
  if (password !== undefined && username === undefined) fail('a webdav password needs a user name (webdav://USER:PASSWORD@host/path or webdav-username)');
  const sources = [optUser !== undefined || optPassword !== undefined ? 'webdav-username/webdav-password' : undefined, url.userinfo !== undefined ? 'the URL' : undefined];
  const credentialSource = username === undefined ? 'none given' : sources.filter((s) => s !== undefined).join(' and ');
  return { origin, path: url.path, username, password, credentialSource };
}

/** `webdav[s]://host[:port]/path`, how a replica is named in messages (never with credentials). */
export function describeWebdavReplica(s: Pick<WebdavSettings, 'origin' | 'path'>): string {
  const scheme = s.origin.startsWith('https:') ? 'webdavs' : 'webdav';
  const host = s.origin.replace(/^https?:\/\//, '');
  return `${scheme}://${host}${s.path === '' ? '' : `/${s.path}`}`;
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

function optString(v: ReplicaOptionValue, key: string, fail: Fail): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') fail(`option ${key} must be a string, got ${JSON.stringify(v)}`);
  return v as string;
}
