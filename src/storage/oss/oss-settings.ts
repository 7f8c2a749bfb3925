import { ReplicaUrlError } from '../errors.js';
import type { RemoteReplicaUrl, ReplicaClientOptions } from '../replica-url.js';
import { ensureEndpointScheme } from '../s3/s3-endpoint.js';
import { resolveS3Settings, type S3Settings } from '../s3/s3-settings.js';

/** The region Litestream's OSS client uses when neither the URL nor the config names one. */
export const DEFAULT_OSS_REGION = 'cn-hangzhou';
/** Parts uploaded at once; the OSS uploader's default that Litestream keeps. */
export const DEFAULT_OSS_CONCURRENCY = 3;

export const OSS_ACCESS_KEY_ID_ENV = 'OSS_ACCESS_KEY_ID';
export const OSS_ACCESS_KEY_SECRET_ENV = 'OSS_ACCESS_KEY_SECRET';

/** `bucket.oss-REGION.aliyuncs.com`, `oss-REGION-internal.aliyuncs.com`, or a bare bucket name. */
const OSS_INTERNAL_HOST_RE = /^(?:([^.]+)\.)?oss-(.+?)-internal\.aliyuncs\.com$/i;
const OSS_HOST_RE = /^(?:([^.]+)\.)?oss-([^.]+)\.aliyuncs\.com$/i;

export interface OssHostParts {
  bucket: string;
  region: string | undefined;
  /** The host named the VPC-internal endpoint. */
  internal: boolean;
}

/** Splits an `oss://` URL's host the way Litestream's OSS client does. */
export function parseOssHost(host: string): OssHostParts {
  const internal = OSS_INTERNAL_HOST_RE.exec(host);
  if (internal !== null) return { bucket: internal[1] ?? '', region: internal[2], internal: true };
  const pub = OSS_HOST_RE.exec(host);
  if (pub !== null) return { bucket: pub[1] ?? '', region: pub[2], internal: false };
  return { bucket: host, region: undefined, internal: false };
}

/**
 * Alibaba Cloud's S3-compatible endpoint for a region. OSS answers the S3
 * API there with SigV4 signed for the OSS region id, virtual-hosted
 * addressing only.
 */
export function ossS3Endpoint(region: string, internal: boolean): string {
  return `https://s3.oss-${region}${internal ? '-internal' : ''}.aliyuncs.com`;
}

/**
 * An `oss://bucket[.oss-REGION[-internal].aliyuncs.com]/path` replica as the
 * settings of the S3 backend pointed at OSS's S3-compatible API. The object
 * layout (`<path>/<level %04x>/<min>-<max>.ltx`) and the
 * `litestream-timestamp` user metadata are the same as Litestream's native
 * OSS client writes, so either tool reads the other's replica.
 *
 * As Litestream: `region` (config) wins over the region in the host, and
 * defaults to cn-hangzhou; `endpoint` replaces the regional one (https://
 * is added when it has no scheme, http:// for loopback and private hosts);
 * credentials are `access-key-id`/`secret-access-key` or the
 * OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET environment variables. Where
 * Litestream's OSS SDK goes to the public endpoint for an `-internal` host,
 * tidemark uses the internal endpoint the URL names.
 */
export function resolveOssSettings(
  url: RemoteReplicaUrl,
  rawUrl: string,
  options: ReplicaClientOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): S3Settings {
  const fail = (reason: string): never => {
    throw new ReplicaUrlError(rawUrl, reason);
  };
  const str = (key: string): string | undefined => {
    const v = options[key];
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string') fail(`option ${key} must be a string, got ${JSON.stringify(v)}`);
    return v as string;
  };
  const host = parseOssHost(url.host);
  if (host.bucket === '') fail('bucket required for an oss replica (oss://BUCKET/PATH or oss://BUCKET.oss-REGION.aliyuncs.com/PATH)');
  const region = str('region') ?? host.region ?? DEFAULT_OSS_REGION;
  const given = str('endpoint');
  const endpoint = given === undefined ? ossS3Endpoint(region, host.internal) : ensureEndpointScheme(given);

  let accessKeyId = str('access-key-id');
  let secret = str('secret-access-key');
  if (accessKeyId === undefined && secret === undefined) {
    accessKeyId = nonEmpty(env[OSS_ACCESS_KEY_ID_ENV]);
    secret = nonEmpty(env[OSS_ACCESS_KEY_SECRET_ENV]);
    if (accessKeyId === undefined && secret === undefined) {
      fail(`an oss replica needs credentials: access-key-id and secret-access-key, or ${OSS_ACCESS_KEY_ID_ENV} and ${OSS_ACCESS_KEY_SECRET_ENV}`);
    }
  }

  const s3Url: RemoteReplicaUrl = { scheme: 's3', host: host.bucket, path: url.path, query: new URLSearchParams(), userinfo: undefined };
  const settings = resolveS3Settings(
    s3Url,
    rawUrl,
    {
      endpoint,
      region,
      // OSS refuses path-style requests.
      'force-path-style': false,
      'access-key-id': accessKeyId,
      'secret-access-key': secret,
      'part-size': options['part-size'],
      concurrency: options['concurrency'] ?? DEFAULT_OSS_CONCURRENCY,
    },
    {},
  );
  return { ...settings, scheme: 'oss', credentialSource: credentialSource(options) };
}

function credentialSource(options: ReplicaClientOptions): string {
  return options['access-key-id'] !== undefined || options['secret-access-key'] !== undefined
    ? 'the access-key-id/secret-access-key options'
    : `${OSS_ACCESS_KEY_ID_ENV}/${OSS_ACCESS_KEY_SECRET_ENV}`;
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}
