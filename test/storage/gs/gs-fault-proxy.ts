import { bodyFault, HttpFaultProxy, type FaultAction, type HttpFaultRuleBase } from '../http-fault-proxy.js';

/** What a GCS JSON API request does, told from its method and path. */
export type GsRequestKind = 'list' | 'get' | 'meta' | 'upload' | 'delete' | 'other';

export const GS_REQUEST_KINDS: readonly GsRequestKind[] = ['list', 'get', 'meta', 'upload', 'delete', 'other'];

export type GsFaultKind =
  /** 500 backendError, without reaching the server. */
  | 'internal-error'
  /** 503 backendError, GCS's answer when it is overloaded. */
  | 'unavailable'
  /** 429 rateLimitExceeded. */
  | 'rate-limited'
  /** 401 authError, as for an invalid or expired token. */
  | 'unauthorized'
  /** 403 forbidden, as for a service account without the permission. */
  | 'forbidden'
  /** 404 notFound for the bucket, as GCS answers for a bucket that does not exist. */
  | 'no-bucket'
  /** The connection is cut before any response. */
  | 'reset'
  /** The connection is cut after `afterBytes` bytes of the server's response body (headers already sent). */
  | 'reset-body'
  /** The response stops after `afterBytes` body bytes and hangs until the client gives up. */
  | 'stall-body'
  /** No response at all until the client gives up. */
  | 'stall';

export interface GsFaultRule extends HttpFaultRuleBase<GsRequestKind> {
  kind: GsFaultKind;
  /** For reset-body and stall-body. */
  afterBytes?: number;
}

export interface LoggedGsRequest {
  method: string;
  /** Path and query as sent. */
  path: string;
  kind: GsRequestKind;
  /** The Range asked for, if any. */
  range: string | undefined;
}

/**
 * Classifies a request by the JSON API's paths: `[/storage/v1]/b/B/o` lists,
 * `…/o/OBJECT?alt=media` (or `/download/storage/v1/…`) reads, the same
 * without alt=media reads metadata, `/upload/storage/v1/…` uploads.
 */
export function classifyGsRequest(method: string, url: string): GsRequestKind {
  const u = new URL(url, 'http://proxy');
  const p = u.pathname;
  if (p.startsWith('/upload/')) return 'upload';
  const m = /^(?:\/download)?(?:\/storage\/v1)?\/b\/[^/]+\/o(\/.+)?$/.exec(p);
  if (m === null) return 'other';
  if (method === 'DELETE') return 'delete';
  if (method !== 'GET') return 'other';
  if (m[1] === undefined) return 'list';
  return u.searchParams.get('alt') === 'media' || p.startsWith('/download/') ? 'get' : 'meta';
}

/** GCS's JSON error body. */
function errorJson(status: number, reason: string, message: string): string {
  return JSON.stringify({ error: { code: status, message, errors: [{ message, domain: 'global', reason }] } });
}

const REPLIES: Partial<Record<GsFaultKind, [number, string, string]>> = {
  'internal-error': [500, 'backendError', 'We encountered an internal error. Please try again.'],
  unavailable: [503, 'backendError', 'We encountered an internal error. Please try again.'],
  'rate-limited': [429, 'rateLimitExceeded', 'The rate of change requests to the object exceeds the rate limit. Please reduce the rate of create, update, and delete requests.'],
  unauthorized: [401, 'authError', 'Invalid Credentials'],
  forbidden: [
    403,
    'forbidden',
    "tidemark-test@example.iam.gserviceaccount.com does not have storage.objects.list access to the Google Cloud Storage bucket. Permission 'storage.objects.list' denied on resource (or it may not exist).",
  ],
  'no-bucket': [404, 'notFound', 'The specified bucket does not exist.'],
};

function gsAction(rule: GsFaultRule | undefined): FaultAction {
  const reply = rule === undefined ? undefined : REPLIES[rule.kind];
  if (reply !== undefined) {
    const [status, reason, message] = reply;
    return { do: 'reply', status, headers: { 'content-type': 'application/json; charset=UTF-8' }, body: errorJson(status, reason, message) };
  }
  if (rule?.kind === 'reset') return { do: 'reset' };
  if (rule?.kind === 'stall') return { do: 'stall' };
  return bodyFault(rule?.kind, rule?.afterBytes);
}

/**
 * An HTTP proxy on 127.0.0.1 between a GCS client and the emulator that
 * counts requests by kind and, following the rules it is given, answers some
 * with GCS's JSON errors or breaks or stalls them. The emulator has no
 * authentication, so wrong credentials are played by the proxy's 401 and
 * 403. Clients use `origin` as STORAGE_EMULATOR_HOST.
 */
export class GsFaultProxy extends HttpFaultProxy<GsRequestKind, GsFaultRule, LoggedGsRequest> {
  private constructor(target: string) {
    super(target, {
      kinds: GS_REQUEST_KINDS,
      classify: (req) => classifyGsRequest(req.method ?? 'GET', req.url ?? '/'),
      log: (req, kind) => ({ method: req.method ?? 'GET', path: req.url ?? '/', kind, range: req.headers.range }),
      act: (_req, rule) => gsAction(rule),
    });
  }

  /** Starts a proxy in front of `target` (`http://host:port`). */
  static async start(target: string): Promise<GsFaultProxy> {
    return new GsFaultProxy(target).listen();
  }
}
