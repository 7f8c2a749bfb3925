import type { IncomingHttpHeaders } from 'node:http';
import { bodyFault, HttpFaultProxy, type FaultAction, type HttpFaultRuleBase } from '../http-fault-proxy.js';

/** What an S3 request does, told from its method and query. */
export type S3RequestKind = 'list' | 'get' | 'head' | 'put' | 'post' | 'delete' | 'other';

export const S3_REQUEST_KINDS: readonly S3RequestKind[] = ['list', 'get', 'head', 'put', 'post', 'delete', 'other'];

export type FaultKind =
  /** 500 InternalError, without reaching the server. */
  | 'internal-error'
  /** 503 SlowDown, S3's throttling reply. */
  | 'slow-down'
  /** 429 Too Many Requests. */
  | 'too-many-requests'
  /** 403 AccessDenied, as for wrong credentials or a bucket policy. */
  | 'access-denied'
  /** The connection is cut after `afterBytes` bytes of the server's response body (headers already sent). */
  | 'reset-body'
  /** The connection is cut before any response. */
  | 'reset'
  /** The response stops after `afterBytes` body bytes and hangs until the client gives up. */
  | 'stall-body'
  /** No response at all until the client gives up. */
  | 'stall'
  /** The request is forwarded after `delayMs`. */
  | 'delay'
  /** A reply of `status` with `body`, without reaching the server. */
  | 'reply';

export interface FaultRule extends HttpFaultRuleBase<S3RequestKind> {
  kind: FaultKind;
  /** For reset-body and stall-body. */
  afterBytes?: number;
  /** For delay. */
  delayMs?: number;
  /** For reply. */
  status?: number;
  body?: string;
}

export interface LoggedRequest {
  method: string;
  /** Path and query as sent. */
  path: string;
  kind: S3RequestKind;
  headers: IncomingHttpHeaders;
}

/** Classifies an S3 request: ListObjectsV2 is `list`, DeleteObjects (`POST ?delete`) is `delete`. */
export function classifyS3Request(method: string, url: string): S3RequestKind {
  const u = new URL(url, 'http://proxy');
  const segments = u.pathname.split('/').filter((s) => s !== '');
  const hasKey = segments.length > 1;
  switch (method) {
    case 'GET':
      if (hasKey) return 'get';
      // A bucket GET is a listing unless it names a subresource (?location, ?acl, …).
      return u.searchParams.has('list-type') || u.searchParams.has('prefix') || [...u.searchParams.keys()].length === 0 ? 'list' : 'other';
    case 'HEAD':
      return 'head';
    case 'PUT':
      return 'put';
    case 'POST':
      return u.searchParams.has('delete') ? 'delete' : 'post';
    case 'DELETE':
      return 'delete';
    default:
      return 'other';
  }
}

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`;
}

function s3Error(status: number, code: string, message: string): FaultAction {
  return { do: 'reply', status, headers: { 'content-type': 'application/xml' }, body: errorXml(code, message) };
}

function s3Action(rule: FaultRule | undefined): FaultAction {
  switch (rule?.kind) {
    case 'internal-error':
      return s3Error(500, 'InternalError', 'We encountered an internal error. Please try again.');
    case 'slow-down':
      return s3Error(503, 'SlowDown', 'Please reduce your request rate.');
    case 'too-many-requests':
      return s3Error(429, 'TooManyRequests', 'Please reduce your request rate.');
    case 'access-denied':
      return s3Error(403, 'AccessDenied', 'Access Denied');
    case 'reset':
      return { do: 'reset' };
    case 'stall':
      return { do: 'stall' };
    case 'delay':
      return { do: 'forward', delayMs: rule.delayMs ?? 0 };
    case 'reply':
      return { do: 'reply', status: rule.status ?? 200, headers: { 'content-type': 'application/xml' }, body: rule.body ?? '' };
    default:
      return bodyFault(rule?.kind, rule?.afterBytes);
  }
}

/**
 * An HTTP proxy on 127.0.0.1 between an S3 client and a real S3 server that
 * counts requests by kind and, following the rules it is given, answers some
 * with errors or breaks, stalls or delays them. Clients use `endpoint` as
 * their S3 endpoint (path-style).
 */
export class FaultProxy extends HttpFaultProxy<S3RequestKind, FaultRule, LoggedRequest> {
  private constructor(target: string) {
    super(target, {
      kinds: S3_REQUEST_KINDS,
      classify: (req) => classifyS3Request(req.method ?? 'GET', req.url ?? '/'),
      log: (req, kind) => ({ method: req.method ?? 'GET', path: req.url ?? '/', kind, headers: { ...req.headers } }),
      act: (_req, rule) => s3Action(rule),
    });
  }

  /** Starts a proxy in front of `target` (`http://host:port`). */
  static async start(target: string): Promise<FaultProxy> {
    return new FaultProxy(target).listen();
  }

  /** `http://127.0.0.1:PORT`, the S3 endpoint to give clients. */
  get endpoint(): string {
    return this.origin;
  }
}
