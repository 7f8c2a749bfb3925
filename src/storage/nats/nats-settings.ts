import { readFileSync } from 'node:fs';
import { ReplicaUrlError } from '../errors.js';
import type { RemoteReplicaUrl, ReplicaClientOptions } from '../replica-url.js';

/** One value of a replica's configuration, as a YAML loader hands it over. */
type ReplicaOptionValue = ReplicaClientOptions[string];

/**
 * Litestream's connection defaults for a NATS replica: reconnect for ever
 * (a request still fails after its own timeout meanwhile), two seconds apart.
 */
export const DEFAULT_NATS_MAX_RECONNECTS = -1;
export const DEFAULT_NATS_RECONNECT_WAIT_MS = 2_000;
/** How long connecting (TCP, TLS and the handshake) may take. */
export const DEFAULT_NATS_CONNECT_TIMEOUT_MS = 10_000;
/** Litestream pings an open connection every two minutes and drops it after two unanswered pings. */
export const DEFAULT_NATS_PING_INTERVAL_MS = 120_000;
export const DEFAULT_NATS_MAX_PINGS_OUT = 2;

/** How a NATS user proves who it is, in Litestream's order of priority. */
export type NatsAuth =
  | { kind: 'jwt'; jwt: string; seed: string }
  | { kind: 'creds'; path: string; creds: string }
  | { kind: 'nkey'; seed: string }
  | { kind: 'user'; username: string; password: string }
  | { kind: 'token'; token: string }
  | { kind: 'none' };

export interface NatsTlsSettings {
  /** PEM of every root CA given, concatenated; undefined: the system's CAs. */
  ca: string | undefined;
  cert: string | undefined;
  key: string | undefined;
}

/** Everything a NATS replica client needs, resolved from the URL and the replica options. */
export interface NatsSettings {
  /** `nats://host:port`, the server to connect to (never with credentials). */
  server: string;
  /** The JetStream object store bucket; it must exist already. */
  bucket: string;
  auth: NatsAuth;
  /** Where the credential came from, for error messages. */
  authSource: string;
  /** undefined: plain TCP (unless the server itself demands TLS). */
  tls: NatsTlsSettings | undefined;
  maxReconnects: number;
  reconnectWaitMs: number;
  connectTimeoutMs: number;
}

type Fail = (reason: string) => never;

/** What the object store accepts as a bucket name. */
const BUCKET_RE = /^[-\w]+$/;

/**
 * Works out a NATS replica's settings the way Litestream does:
 * - `nats://[user[:password]@]host[:port]/bucket`: the whole path is the
 *   bucket (files go at its root, `ltx/<level>/…`); the `bucket` option may
 *   stand in for a URL without one;
 * - credentials in Litestream's priority: `jwt` with `seed`, else a `creds`
 *   file, else `nkey` (a user nkey seed, or a file holding one), else
 *   `username` with `password` (the URL's user and password when the options
 *   name none), else `token`;
 * - TLS when `tls` is true or any of `root-cas`, `client-cert`, `client-key`
 *   is given (cert and key only together); unlike the Litestream release
 *   this follows, `tls: true` is honoured;
 * - `max-reconnects`, `reconnect-wait` (ms) and `timeout` (ms) as Litestream
 *   passes them to its NATS client.
 * Files named by options are read now, so a wrong path fails at once.
 * Litestream reads no environment variables for NATS, and neither does this.
 */
export function resolveNatsSettings(url: RemoteReplicaUrl, rawUrl: string, options: ReplicaClientOptions = {}): NatsSettings {
  const fail: Fail = (reason) => {
    throw new ReplicaUrlError(rawUrl, reason);
  };
  const opt = (key: string): string | undefined => optString(options[key], key, fail);

  const optBucket = opt('bucket');
  if (optBucket !== undefined && url.path !== '' && optBucket !== url.path) fail('cannot specify both a URL bucket and the bucket option for a nats replica');
  const bucket = url.path !== '' ? url.path : optBucket;
  if (bucket === undefined) fail('a nats replica needs a bucket: nats://HOST[:PORT]/BUCKET or the bucket option');
  if (!BUCKET_RE.test(bucket!)) {
    fail(`bucket name ${JSON.stringify(bucket)} is not valid for a NATS object store (letters, digits, '-' and '_'; a nats replica has no path inside its bucket)`);
  }

  const { auth, authSource } = resolveAuth(opt, url, fail);
  return {
    server: `nats://${url.host}`,
    bucket: bucket!,
    auth,
    authSource,
    tls: resolveTls(options, opt, fail),
    maxReconnects: optInt(options['max-reconnects'], 'max-reconnects', -1, fail) ?? DEFAULT_NATS_MAX_RECONNECTS,
    reconnectWaitMs: optInt(options['reconnect-wait'], 'reconnect-wait', 0, fail) ?? DEFAULT_NATS_RECONNECT_WAIT_MS,
    connectTimeoutMs: optInt(options['timeout'], 'timeout', 1, fail) ?? DEFAULT_NATS_CONNECT_TIMEOUT_MS,
  };
}

/** `nats://host:port/bucket`, how a replica is named in messages (never with credentials). */
export function describeNatsReplica(s: Pick<NatsSettings, 'server' | 'bucket'>): string {
  return `${s.server}/${s.bucket}`;
}

function optString(v: ReplicaOptionValue, key: string, fail: Fail): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') fail(`option ${key} must be a string, got ${JSON.stringify(v)}`);
  return v as string;
}

function optInt(v: ReplicaOptionValue, key: string, min: number, fail: Fail): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) fail(`option ${key} must be an integer of at least ${min}, got ${JSON.stringify(v)}`);
  return v as number;
}

function readText(path: string, what: string, fail: Fail): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return fail(`cannot read the ${what} ${JSON.stringify(path)} (${typeof code === 'string' ? code : String(err)})`);
  }
}

/** A user nkey seed: `SU` and 56 more base32 characters. */
const USER_SEED_RE = /^SU[A-Z2-7]{56}$/;

function resolveAuth(opt: (key: string) => string | undefined, url: RemoteReplicaUrl, fail: Fail): { auth: NatsAuth; authSource: string } {
  const jwt = opt('jwt');
  const seed = opt('seed');
  if (jwt !== undefined && seed !== undefined) {
    if (!USER_SEED_RE.test(seed.trim())) fail('option seed must be a user nkey seed (SU…)');
    return { auth: { kind: 'jwt', jwt, seed: seed.trim() }, authSource: 'the jwt and seed options' };
  }
  const credsPath = opt('creds');
  if (credsPath !== undefined) {
    const creds = readText(credsPath, 'creds file', fail);
    if (!creds.includes('-----BEGIN NATS USER JWT-----')) fail(`the creds file ${JSON.stringify(credsPath)} holds no NATS user JWT`);
    return { auth: { kind: 'creds', path: credsPath, creds }, authSource: `the creds file ${credsPath}` };
  }
  const nkey = opt('nkey');
  if (nkey !== undefined) {
    const text = USER_SEED_RE.test(nkey.trim()) ? nkey : readText(nkey, 'nkey seed file', fail);
    const found = /SU[A-Z2-7]{56}/.exec(text);
    if (found === null) fail('option nkey must be a user nkey seed (SU…) or a file holding one');
    return { auth: { kind: 'nkey', seed: found![0] }, authSource: 'the nkey option' };
  }
  const username = opt('username') ?? (url.userinfo?.username === '' ? undefined : url.userinfo?.username);
  const password = opt('password') ?? url.userinfo?.password;
  if (username !== undefined && password !== undefined && password !== '') {
    const fromUrl = opt('username') === undefined && opt('password') === undefined;
    return { auth: { kind: 'user', username, password }, authSource: fromUrl ? 'the URL' : 'the username and password options' };
  }
  const token = opt('token');
  if (token !== undefined) return { auth: { kind: 'token', token }, authSource: 'the token option' };
  if (username !== undefined) fail(`user ${JSON.stringify(username)} has no password (nats://USER:PASSWORD@HOST/BUCKET or the password option)`);
  return { auth: { kind: 'none' }, authSource: 'no credentials' };
}

function resolveTls(options: ReplicaClientOptions, opt: (key: string) => string | undefined, fail: Fail): NatsTlsSettings | undefined {
  const tls = options['tls'];
  if (tls !== undefined && typeof tls !== 'boolean') fail(`option tls must be true or false, got ${JSON.stringify(tls)}`);
  const rootCas = (opt('root-cas') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const certPath = opt('client-cert');
  const keyPath = opt('client-key');
  if ((certPath === undefined) !== (keyPath === undefined)) fail('client-cert and client-key must be given together');
  if (tls !== true && rootCas.length === 0 && certPath === undefined) return undefined;
  return {
    ca: rootCas.length === 0 ? undefined : rootCas.map((p) => readText(p, 'root CA file', fail)).join('\n'),
    cert: certPath === undefined ? undefined : readText(certPath, 'client certificate', fail),
    key: keyPath === undefined ? undefined : readText(keyPath, 'client key', fail),
  };
}
