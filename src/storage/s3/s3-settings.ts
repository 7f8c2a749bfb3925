import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { ReplicaUrlError } from '../errors.js';
import type { RemoteReplicaUrl, ReplicaClientOptions } from '../replica-url.js';
import { parseByteSize } from '../../config/byte-size.js';
import {
  DEFAULT_S3_REGION,
  detectS3Provider,
  ensureEndpointScheme,
  isLocalEndpoint,
  parseS3Host,
  PATH_STYLE_PROVIDERS,
  regionFromArn,
  type S3Provider,
} from './s3-endpoint.js';

/** One value of a replica's configuration, as a YAML loader hands it over. */
type ReplicaOptionValue = ReplicaClientOptions[string];

const MIB = 1024 * 1024;
/** S3 refuses multipart parts below 5 MiB (except the last), so that is the floor and the default. */
export const MIN_S3_PART_SIZE = 5 * MIB;
export const DEFAULT_S3_PART_SIZE = MIN_S3_PART_SIZE;
/** Parts uploaded at once; the AWS SDKs' default. */
export const DEFAULT_S3_CONCURRENCY = 5;
/** Cloudflare R2 limits concurrent multipart uploads, so Litestream uses 2 there. */
export const R2_S3_CONCURRENCY = 2;
/** The only SSE-C algorithm S3 has. */
export const SSE_CUSTOMER_ALGORITHM = 'AES256';
const SSE_CUSTOMER_KEY_BYTES = 32;

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export type S3Encryption =
  | { kind: 'customer'; algorithm: typeof SSE_CUSTOMER_ALGORITHM; /** Base64 of the 32-byte key. */ key: string }
  | { kind: 'kms'; keyId: string };

/** Everything an S3 replica client needs, resolved from the URL, the replica options and the environment. */
export interface S3Settings {
  /** The URL scheme the replica was named by: 'oss' for Alibaba Cloud OSS through its S3-compatible API; 's3' when absent. */
  scheme?: 's3' | 'oss';
  /** Bucket name, or an access point ARN. */
  bucket: string;
  /** Key prefix without leading or trailing '/'; '' for the bucket root. */
  path: string;
  /** undefined: looked up from the bucket when the client starts (AWS only). */
  region: string | undefined;
  /** Custom endpoint with its scheme; undefined for AWS. */
  endpoint: string | undefined;
  provider: S3Provider;
  forcePathStyle: boolean;
  skipVerify: boolean;
  signPayload: boolean;
  requireContentMd5: boolean;
  partSize: number;
  concurrency: number;
  /** Static credentials; undefined means the AWS SDK's default chain. */
  credentials: S3Credentials | undefined;
  /** Where the credentials came from, for error messages. */
  credentialSource: string;
  encryption: S3Encryption | undefined;
}

/**
 * Works out an S3 replica's settings the way Litestream's configuration does:
 * - the URL host may name a provider's endpoint and region (see parseS3Host), or be an access point ARN;
 * - replica options (YAML keys) win over the URL, except `skip-verify`, where the URL query wins;
 *   naming the bucket or path in both is an error;
 * - query keys are accepted in camelCase and kebab-case;
 * - a custom endpoint defaults to path-style requests, as do Backblaze, Filebase, MinIO-style and Supabase endpoints;
 *   Tigris drops Content-MD5; R2 uploads 2 parts at a time;
 * - without an endpoint, `LITESTREAM_S3_ENDPOINT` is used;
 * - credentials: `access-key-id`/`secret-access-key`, else (when `AWS_ACCESS_KEY_ID` is unset)
 *   `TIDEMARK_ACCESS_KEY_ID`/`TIDEMARK_SECRET_ACCESS_KEY` or `LITESTREAM_ACCESS_KEY_ID`/`LITESTREAM_SECRET_ACCESS_KEY`,
 *   else the SDK's default chain.
 * Unlike Litestream, values that cannot be used (a boolean that is not one, a
 * part size below 5 MiB) are errors rather than silently ignored.
 * `url` is undefined for a replica configured by options alone (`rawUrl` is then `s3://`).
 */
export function resolveS3Settings(
  url: RemoteReplicaUrl | undefined,
  rawUrl: string,
  options: ReplicaClientOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): S3Settings {
  const fail: Fail = (reason) => {
    throw new ReplicaUrlError(rawUrl, reason);
  };
  const opt = (key: string): ReplicaOptionValue => {
    const v = options[key];
    return v === '' ? undefined : v;
  };
  const query = url?.query ?? new URLSearchParams();
  const q = (...keys: string[]): string | undefined => {
    for (const k of keys) {
      const v = query.get(k);
      if (v !== null && v !== '') return v;
    }
    return undefined;
  };

  const optBucket = optString(opt('bucket'), 'bucket', fail);
  const optPath = optString(opt('path'), 'path', fail);
  if (url !== undefined && optBucket !== undefined) fail('cannot specify both a URL and the bucket option for an s3 replica');
  if (url !== undefined && optPath !== undefined) fail('cannot specify both a URL and the path option for an s3 replica');

  const isArn = url !== undefined && url.host.startsWith('arn:');
  const host = url === undefined || isArn ? undefined : parseS3Host(url.host);
  const bucket = optBucket ?? (isArn ? url.host : host?.bucket) ?? '';
  if (bucket === '') fail('bucket required for an s3 replica (s3://BUCKET/PATH, BUCKET.HOST:PORT, or the bucket option)');
  const path = optPath === undefined ? (url?.path ?? '') : optPath.replace(/^\/+|\/+$/g, '');

  const explicitEndpoint = optString(opt('endpoint'), 'endpoint', fail) ?? q('endpoint') ?? nonEmpty(env['LITESTREAM_S3_ENDPOINT']);
  const rawEndpoint = explicitEndpoint ?? host?.endpoint;
  const endpoint = rawEndpoint === undefined ? undefined : ensureEndpointScheme(rawEndpoint);
  if (endpoint !== undefined) checkEndpoint(endpoint, fail);
  const provider = detectS3Provider(endpoint);

  const region =
    optString(opt('region'), 'region', fail) ??
    q('region') ??
    (isArn ? regionFromArn(url.host) : host?.region) ??
    (endpoint === undefined ? undefined : DEFAULT_S3_REGION);

  const forcePathStyle =
    optBool(opt('force-path-style'), 'option force-path-style', fail) ??
    queryBool(q('forcePathStyle', 'force-path-style'), 'forcePathStyle', fail) ??
    (explicitEndpoint !== undefined || host?.forcePathStyle === true || PATH_STYLE_PROVIDERS.includes(provider));
  const skipVerify =
    queryBool(q('skipVerify', 'skip-verify'), 'skipVerify', fail) ?? optBool(opt('skip-verify'), 'option skip-verify', fail) ?? false;
  const signPayload =
    optBool(opt('sign-payload'), 'option sign-payload', fail) ?? queryBool(q('signPayload', 'sign-payload'), 'signPayload', fail) ?? true;
  const requireContentMd5 =
    optBool(opt('require-content-md5'), 'option require-content-md5', fail) ??
    queryBool(q('requireContentMD5', 'require-content-md5'), 'requireContentMD5', fail) ??
    provider !== 'tigris';

  const partSize = optPartSize(opt('part-size') ?? q('partSize', 'part-size'), fail) ?? DEFAULT_S3_PART_SIZE;
  const concurrency =
    optConcurrency(opt('concurrency') ?? q('concurrency'), fail) ?? (provider === 'cloudflare-r2' ? R2_S3_CONCURRENCY : DEFAULT_S3_CONCURRENCY);

  const { credentials, credentialSource } = resolveCredentials(opt, env, fail);
  const encryption = resolveEncryption(opt, q, endpoint, fail);
  return {
    bucket,
    path,
    region,
    endpoint,
    provider,
    forcePathStyle,
    skipVerify,
    signPayload,
    requireContentMd5,
    partSize,
    concurrency,
    credentials,
    credentialSource,
    encryption,
  };
}

/** `s3://bucket/path`, how a replica is named in messages (never with credentials). */
export function describeS3Replica(s: Pick<S3Settings, 'bucket' | 'path' | 'endpoint' | 'scheme'>): string {
  const name = `${s.scheme ?? 's3'}://${s.bucket}${s.path === '' ? '' : `/${s.path}`}`;
  return s.endpoint === undefined ? name : `${name} at ${s.endpoint}`;
}

type Fail = (reason: string) => never;

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

function optString(v: ReplicaOptionValue, key: string, fail: Fail): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') fail(`option ${key} must be a string, got ${JSON.stringify(v)}`);
  return v as string;
}

const TRUE_WORDS = ['true', '1', 't', 'yes'];
const FALSE_WORDS = ['false', '0', 'f', 'no'];

function parseBoolWord(s: string): boolean | undefined {
  const w = s.toLowerCase();
  if (TRUE_WORDS.includes(w)) return true;
  if (FALSE_WORDS.includes(w)) return false;
  return undefined;
}

function queryBool(v: string | undefined, key: string, fail: Fail): boolean | undefined {
  if (v === undefined) return undefined;
  const b = parseBoolWord(v);
  if (b === undefined) fail(`query parameter ${key}=${v} is not a boolean (use true or false)`);
  return b;
}

function optBool(v: ReplicaOptionValue, what: string, fail: Fail): boolean | undefined {
  if (v === undefined || typeof v === 'boolean') return v;
  const b = typeof v === 'string' ? parseBoolWord(v) : undefined;
  if (b === undefined) fail(`${what} must be true or false, got ${JSON.stringify(v)}`);
  return b;
}

function byteSizeOrNull(s: string): number | null {
  try {
    return parseByteSize(s);
  } catch {
    return null;
  }
}

function optPartSize(v: ReplicaOptionValue, fail: Fail): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' ? byteSizeOrNull(v) : null;
  if (n === null || !Number.isSafeInteger(n) || n <= 0) fail(`part-size ${JSON.stringify(v)} is not a byte size (e.g. 5242880, 8MB, 16MiB)`);
  if ((n as number) < MIN_S3_PART_SIZE) fail(`part-size ${JSON.stringify(v)} is below S3's minimum part size of 5 MiB (${MIN_S3_PART_SIZE} bytes)`);
  return n as number;
}

function optConcurrency(v: ReplicaOptionValue, fail: Fail): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) fail(`concurrency ${JSON.stringify(v)} must be a whole number of at least 1`);
  return n;
}

function checkEndpoint(endpoint: string, fail: Fail): void {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    return fail(`endpoint ${JSON.stringify(endpoint)} is not a valid URL`);
  }
  if (u.host === '') fail(`endpoint ${JSON.stringify(endpoint)} has no host`);
}

function resolveCredentials(
  opt: (key: string) => ReplicaOptionValue,
  env: NodeJS.ProcessEnv,
  fail: Fail,
): { credentials: S3Credentials | undefined; credentialSource: string } {
  const id = optString(opt('access-key-id'), 'access-key-id', fail);
  const secret = optString(opt('secret-access-key'), 'secret-access-key', fail);
  if (id !== undefined || secret !== undefined) {
    if (id === undefined) fail('secret-access-key is set but access-key-id is not');
    if (secret === undefined) fail('access-key-id is set but secret-access-key is not');
    return { credentials: { accessKeyId: id!, secretAccessKey: secret! }, credentialSource: 'the access-key-id/secret-access-key options' };
  }
  // Litestream copies LITESTREAM_* into AWS_* only when AWS_* is unset; the AWS chain then reads them first.
  if (nonEmpty(env['AWS_ACCESS_KEY_ID']) === undefined) {
    for (const prefix of ['TIDEMARK', 'LITESTREAM']) {
      const envId = nonEmpty(env[`${prefix}_ACCESS_KEY_ID`]);
      if (envId === undefined) continue;
      const envSecret = nonEmpty(env['AWS_SECRET_ACCESS_KEY']) ?? nonEmpty(env[`${prefix}_SECRET_ACCESS_KEY`]);
      if (envSecret === undefined) fail(`${prefix}_ACCESS_KEY_ID is set but ${prefix}_SECRET_ACCESS_KEY is not`);
      return {
        credentials: { accessKeyId: envId, secretAccessKey: envSecret! },
        credentialSource: `${prefix}_ACCESS_KEY_ID/${prefix}_SECRET_ACCESS_KEY`,
      };
    }
  }
  return {
    credentials: undefined,
    credentialSource: 'the AWS default credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws, instance role)',
  };
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function resolveEncryption(
  opt: (key: string) => ReplicaOptionValue,
  q: (...keys: string[]) => string | undefined,
  endpoint: string | undefined,
  fail: Fail,
): S3Encryption | undefined {
  const algorithm = optString(opt('sse-customer-algorithm'), 'sse-customer-algorithm', fail) ?? q('sseCustomerAlgorithm', 'sse-customer-algorithm');
  let key = optString(opt('sse-customer-key'), 'sse-customer-key', fail) ?? q('sseCustomerKey', 'sse-customer-key');
  const keyPath = optString(opt('sse-customer-key-path'), 'sse-customer-key-path', fail) ?? q('sseCustomerKeyPath', 'sse-customer-key-path');
  const keyMd5 = q('sseCustomerKeyMD5', 'sse-customer-key-md5');
  const kmsKeyId = optString(opt('sse-kms-key-id'), 'sse-kms-key-id', fail) ?? q('sseKmsKeyId', 'sse-kms-key-id');

  if (key !== undefined && keyPath !== undefined) fail('sse-customer-key and sse-customer-key-path cannot both be set');
  if (keyPath !== undefined) {
    const file = keyPath.startsWith('~') ? homedir() + keyPath.slice(1) : keyPath;
    try {
      key = readFileSync(file, 'utf8').trim();
    } catch (err) {
      fail(`cannot read sse-customer-key-path ${JSON.stringify(keyPath)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (key !== undefined && kmsKeyId !== undefined) fail('sse-customer-key and sse-kms-key-id are mutually exclusive');
  if (kmsKeyId !== undefined) return { kind: 'kms', keyId: kmsKeyId };
  if (key === undefined) {
    if (algorithm !== undefined) fail('sse-customer-algorithm is set but there is no sse-customer-key or sse-customer-key-path');
    return undefined;
  }
  if (algorithm !== undefined && algorithm !== SSE_CUSTOMER_ALGORITHM) fail(`sse-customer-algorithm must be AES256, got ${JSON.stringify(algorithm)}`);
  if (!BASE64_RE.test(key) || Buffer.from(key, 'base64').length !== SSE_CUSTOMER_KEY_BYTES) {
    fail(`sse-customer-key must be base64 of exactly ${SSE_CUSTOMER_KEY_BYTES} bytes`);
  }
  if (keyMd5 !== undefined && keyMd5 !== createHash('md5').update(Buffer.from(key, 'base64')).digest('base64')) {
    fail('sseCustomerKeyMD5 does not match sse-customer-key');
  }
  // S3 refuses SSE-C over plain HTTP; sending the key in clear is only tolerable on a local network.
  if (endpoint !== undefined && endpoint.toLowerCase().startsWith('http://') && !isLocalEndpoint(endpoint)) {
    fail(`sse-customer-key needs an https endpoint, got ${endpoint}`);
  }
  return { kind: 'customer', algorithm: SSE_CUSTOMER_ALGORITHM, key };
}
