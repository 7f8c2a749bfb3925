/**
 * S3-compatible services recognised by their endpoint or by the host of an
 * `s3://` URL, with the defaults each needs, following Litestream's detection.
 */

export type S3Provider =
  | 'aws'
  | 'tigris'
  | 'digitalocean'
  | 'backblaze'
  | 'filebase'
  | 'scaleway'
  | 'cloudflare-r2'
  | 'supabase'
  | 'hetzner'
  | 'minio'
  | 'other';

/** Providers that only accept path-style requests (`endpoint/bucket/key`). */
export const PATH_STYLE_PROVIDERS: readonly S3Provider[] = ['backblaze', 'filebase', 'minio', 'supabase'];

/** Region used when none is given and none can be looked up: AWS's default, and what S3-compatible services expect. */
export const DEFAULT_S3_REGION = 'us-east-1';

/** Host names that make a URL or endpoint one of a cloud provider's, never a MinIO-style `host:port`. */
const CLOUD_HOST_MARKERS = [
  '.amazonaws.com',
  '.digitaloceanspaces.com',
  '.backblazeb2.com',
  '.filebase.com',
  '.scw.cloud',
  '.r2.cloudflarestorage.com',
  'tigris.dev',
  't3.storage.dev',
  '.supabase.co',
];

/** The lower-case `host[:port]` of an endpoint given with or without a scheme. */
export function endpointHost(endpoint: string): string {
  const e = endpoint.trim().toLowerCase();
  if (/^https?:\/\//.test(e)) {
    try {
      const host = new URL(e).host;
      if (host !== '') return host;
    } catch {
      // Not a URL after all: treated as a bare host below.
    }
  }
  return e;
}

/**
 * Local development endpoints (localhost, loopback, private networks,
 * `.local`), which get `http://` when no scheme is given. The 172.x test is
 * Litestream's (it matches 172.16-172.31 and also 172.2x).
 */
export function isLocalEndpoint(endpoint: string): boolean {
  let host = endpointHost(endpoint);
  if (host === '') return false;
  host = host.replace(/:\d*$/, '').replace(/^\[|\]$/g, '');
  return (
    host === 'localhost' ||
    host === '127.0.0.1' ||
    host === '::1' ||
    /^(192\.168\.|10\.|172\.1[6-9]\.|172\.2|172\.3[01]\.)/.test(host) ||
    host.endsWith('.local') ||
    host.endsWith('.localhost')
  );
}

/** An endpoint with a scheme: as given when it has one, else http:// for local hosts and https:// for the rest. */
export function ensureEndpointScheme(endpoint: string): string {
  if (/^https?:\/\//i.test(endpoint)) return endpoint;
  return (isLocalEndpoint(endpoint) ? 'http://' : 'https://') + endpoint;
}

/** Which service an endpoint belongs to; 'aws' when there is no custom endpoint. */
export function detectS3Provider(endpoint: string | undefined): S3Provider {
  if (endpoint === undefined || endpoint === '') return 'aws';
  const host = endpointHost(endpoint);
  const name = host.replace(/:\d*$/, '');
  if (name === 'fly.storage.tigris.dev' || name === 't3.storage.dev') return 'tigris';
  if (name.endsWith('.digitaloceanspaces.com')) return 'digitalocean';
  if (name.endsWith('.backblazeb2.com')) return 'backblaze';
  if (name === 's3.filebase.com') return 'filebase';
  if (name.endsWith('.scw.cloud')) return 'scaleway';
  if (name.endsWith('.r2.cloudflarestorage.com')) return 'cloudflare-r2';
  if (name.endsWith('.supabase.co')) return 'supabase';
  if (name.endsWith('.your-objectstorage.com')) return 'hetzner';
  if (/:\d+$/.test(host) && !CLOUD_HOST_MARKERS.some((m) => host.includes(m))) return 'minio';
  return 'other';
}

export interface S3HostParts {
  bucket: string;
  region: string | undefined;
  endpoint: string | undefined;
  /** The host form itself implies path-style requests (MinIO-style `bucket.host:port`, Backblaze). */
  forcePathStyle: boolean;
}

const AWS_HOST_RE = /^(.+)\.s3(?:\.([^.]+))?\.amazonaws\.com$/;
const DIGITALOCEAN_HOST_RE = /^(?:(.+)\.)?([^.]+)\.digitaloceanspaces\.com$/;
const BACKBLAZE_HOST_RE = /^(?:(.+)\.)?s3\.([^.]+)\.backblazeb2\.com$/;
const FILEBASE_HOST_RE = /^(?:(.+)\.)?s3\.filebase\.com$/;
const SCALEWAY_HOST_RE = /^(?:(.+)\.)?s3\.([^.]+)\.scw\.cloud$/;
const IP_PORT_RE = /^(\d{1,3}\.){3}\d{1,3}:\d+$/;

/**
 * Splits the host of an `s3://` URL the way Litestream does:
 * - `bucket.host:port` (a port and no `.com`): MinIO style, bucket first, the rest an http:// endpoint;
 * - `bucket.s3[.region].amazonaws.com`: AWS virtual-host style;
 * - `bucket.region.digitaloceanspaces.com`, `bucket.s3.region.backblazeb2.com`,
 *   `bucket.s3.filebase.com`, `bucket.s3.region.scw.cloud`: those providers' endpoints;
 * - anything else is the bucket name.
 * One deliberate difference: an `ip:port` host is an endpoint with no bucket
 * (Litestream would take the first octet as the bucket), so it gets a clear error.
 */
export function parseS3Host(host: string): S3HostParts {
  if (host.includes(':') && !host.includes('.com')) {
    const dot = host.indexOf('.');
    if (dot < 0 || IP_PORT_RE.test(host)) return { bucket: '', region: undefined, endpoint: `http://${host}`, forcePathStyle: true };
    return { bucket: host.slice(0, dot), region: DEFAULT_S3_REGION, endpoint: `http://${host.slice(dot + 1)}`, forcePathStyle: true };
  }
  let m = AWS_HOST_RE.exec(host);
  if (m !== null) return { bucket: m[1]!, region: m[2], endpoint: undefined, forcePathStyle: false };
  m = DIGITALOCEAN_HOST_RE.exec(host);
  if (m !== null) return { bucket: m[1] ?? '', region: m[2], endpoint: `https://${m[2]}.digitaloceanspaces.com`, forcePathStyle: false };
  m = BACKBLAZE_HOST_RE.exec(host);
  if (m !== null) return { bucket: m[1] ?? '', region: m[2], endpoint: `https://s3.${m[2]}.backblazeb2.com`, forcePathStyle: true };
  m = FILEBASE_HOST_RE.exec(host);
  if (m !== null) return { bucket: m[1] ?? '', region: undefined, endpoint: 'https://s3.filebase.com', forcePathStyle: false };
  m = SCALEWAY_HOST_RE.exec(host);
  if (m !== null) return { bucket: m[1] ?? '', region: m[2], endpoint: `https://s3.${m[2]}.scw.cloud`, forcePathStyle: false };
  return { bucket: host, region: undefined, endpoint: undefined, forcePathStyle: false };
}

/** The region field of an access point ARN (`arn:aws:s3:REGION:ACCOUNT:accesspoint/NAME`). */
export function regionFromArn(arn: string): string | undefined {
  const region = arn.split(':', 6)[3];
  return region === undefined || region === '' ? undefined : region;
}
