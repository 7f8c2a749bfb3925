import { accessSync, constants } from 'node:fs';
import { ReplicaUrlError } from '../errors.js';
import type { RemoteReplicaUrl, ReplicaClientOptions } from '../replica-url.js';

/** One value of a replica's configuration, as a YAML loader hands it over. */
type ReplicaOptionValue = ReplicaClientOptions[string];

/**
 * The variable that points Google's client libraries (Go's, which Litestream
 * uses, and Node's) at an emulator instead of Cloud Storage; they then send
 * no credentials.
 */
export const GS_EMULATOR_HOST_ENV = 'STORAGE_EMULATOR_HOST';
/** Application Default Credentials read a service account or user key file from here first. */
export const GS_CREDENTIALS_FILE_ENV = 'GOOGLE_APPLICATION_CREDENTIALS';
/** What an emulator host without a scheme is spoken to with, as Go's client does (`localhost:4443`). */
export const DEFAULT_GS_EMULATOR_SCHEME = 'http';
/** What the credential chain falls back to when no key file is named, for messages. */
export const GS_ADC_FALLBACK = 'Application Default Credentials (gcloud auth application-default login, or the metadata server on Google Cloud)';

/** Everything a Google Cloud Storage replica client needs, resolved from the URL, the replica options and the environment. */
export interface GsSettings {
  bucket: string;
  /** Object name prefix without leading or trailing '/'; '' for the bucket root. */
  path: string;
  /** The emulator's base URL (from STORAGE_EMULATOR_HOST), with its scheme and without a trailing '/'; undefined for Cloud Storage itself. */
  emulatorEndpoint: string | undefined;
  /** A key file for the credential chain (from GOOGLE_APPLICATION_CREDENTIALS); undefined lets the rest of the chain decide. */
  keyFilename: string | undefined;
  /** Where the credential comes from, for error messages. */
  credentialSource: string;
}

type Fail = (reason: string) => never;

/**
 * Works out a GCS replica's settings the way Litestream does:
 * - `gs://bucket/path`; the `bucket` and `path` options may stand in for the
 *   URL's parts (that is what a config file's `type: gs` form becomes), but
 *   the path may not be named in both;
 * - credentials come from Application Default Credentials: the key file
 *   GOOGLE_APPLICATION_CREDENTIALS names, else gcloud's application-default
 *   login, else the metadata server. A named key file that cannot be read is
 *   refused here rather than at the first request;
 * - STORAGE_EMULATOR_HOST (`host:port` or a URL) sends every request to an
 *   emulator, unauthenticated, as Google's client libraries do.
 */
export function resolveGsSettings(
  url: RemoteReplicaUrl,
  rawUrl: string,
  options: ReplicaClientOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): GsSettings {
  const fail: Fail = (reason) => {
    throw new ReplicaUrlError(rawUrl, reason);
  };
  const optBucket = optString(options['bucket'], 'bucket', fail);
  const optPath = optString(options['path'], 'path', fail);
  if (optBucket !== undefined && optBucket !== url.host) fail('cannot specify both a URL bucket and the bucket option for a gs replica');
  if (optPath !== undefined && url.path !== '' && trimSlashes(optPath) !== url.path) {
    fail('cannot specify both a URL path and the path option for a gs replica');
  }
  const bucket = url.host;
  checkBucketName(bucket, fail);
  const path = url.path !== '' ? url.path : trimSlashes(optPath ?? '');

  const host = env[GS_EMULATOR_HOST_ENV];
  const emulatorEndpoint = host === undefined || host === '' ? undefined : checkEmulatorHost(host, fail);

  const keyFile = env[GS_CREDENTIALS_FILE_ENV];
  let keyFilename: string | undefined;
  let credentialSource: string;
  if (emulatorEndpoint !== undefined) {
    credentialSource = `none (${GS_EMULATOR_HOST_ENV} is set)`;
  } else if (keyFile !== undefined && keyFile !== '') {
    try {
      accessSync(keyFile, constants.R_OK);
    } catch (err) {
      fail(`the key file ${GS_CREDENTIALS_FILE_ENV} names (${keyFile}) cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    keyFilename = keyFile;
    credentialSource = `the key file ${keyFile} (${GS_CREDENTIALS_FILE_ENV})`;
  } else {
    credentialSource = GS_ADC_FALLBACK;
  }
  return { bucket, path, emulatorEndpoint, keyFilename, credentialSource };
}

/** `gs://bucket/path [at emulator]`, how a replica is named in messages. */
export function describeGsReplica(s: Pick<GsSettings, 'bucket' | 'path' | 'emulatorEndpoint'>): string {
  const name = `gs://${s.bucket}${s.path === '' ? '' : `/${s.path}`}`;
  return s.emulatorEndpoint === undefined ? name : `${name} at ${s.emulatorEndpoint}`;
}

function optString(v: ReplicaOptionValue, key: string, fail: Fail): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') fail(`option ${key} must be a string, got ${JSON.stringify(v)}`);
  return v as string;
}

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, '');
}

/**
 * Cloud Storage's rule: 3-63 characters (up to 222 when dotted, each dotted
 * part at most 63) of lower-case letters, digits, '-', '_' and '.', starting
 * and ending with a letter or digit.
 */
const BUCKET_NAME_RE = /^[a-z0-9][a-z0-9._-]*[a-z0-9]$/;

function checkBucketName(name: string, fail: Fail): void {
  const dotted = name.includes('.');
  const ok =
    BUCKET_NAME_RE.test(name) &&
    name.length >= 3 &&
    name.length <= (dotted ? 222 : 63) &&
    name.split('.').every((part) => part.length > 0 && part.length <= 63);
  if (!ok) {
    fail(`bucket name ${JSON.stringify(name)} is not valid on Google Cloud Storage (3-63 lower-case letters, digits, '-', '_' and '.', starting and ending with a letter or digit)`);
  }
}

function checkEmulatorHost(host: string, fail: Fail): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(host) ? host : `${DEFAULT_GS_EMULATOR_SCHEME}://${host}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    return fail(`${GS_EMULATOR_HOST_ENV}=${JSON.stringify(host)} is not a host:port or URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') fail(`${GS_EMULATOR_HOST_ENV}=${JSON.stringify(host)} must be host:port or start with http:// or https://`);
  if (u.hostname === '') fail(`${GS_EMULATOR_HOST_ENV}=${JSON.stringify(host)} has no host`);
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
}
