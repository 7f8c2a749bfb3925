import { bodyFault, HttpFaultProxy, type FaultAction, type HttpFaultRuleBase } from '../http-fault-proxy.js';

/** What a Blob service request does, told from its method and query. */
export type AbsRequestKind = 'list' | 'get' | 'head' | 'put' | 'delete' | 'other';

export const ABS_REQUEST_KINDS: readonly AbsRequestKind[] = ['list', 'get', 'head', 'put', 'delete', 'other'];

export type AbsFaultKind =
  /** 500 InternalError, without reaching the server. */
  | 'internal-error'
  /** 503 ServerBusy, Azure's throttling reply. */
  | 'server-busy'
  /** 403 AuthenticationFailed, as for a wrong key or an expired SAS token. */
  | 'auth-failed'
  /** The connection is cut before any response. */
  | 'reset'
  /** The connection is cut after `afterBytes` bytes of the server's response body (headers already sent). */
  | 'reset-body'
  /** The response stops after `afterBytes` body bytes and hangs until the client gives up. */
  | 'stall-body'
  /** No response at all until the client gives up. */
  | 'stall';

export interface AbsFaultRule extends HttpFaultRuleBase<AbsRequestKind> {
  kind: AbsFaultKind;
  /** For reset-body and stall-body. */
  afterBytes?: number;
}

export interface LoggedAbsRequest {
  method: string;
  /** Path and query as sent. */
  path: string;
  kind: AbsRequestKind;
  /** The x-ms-range (or Range) asked for, if any. */
  range: string | undefined;
}

/** Classifies a path-style Blob service request (`/account/container[/blob]?…`). */
export function classifyAbsRequest(method: string, url: string): AbsRequestKind {
  const u = new URL(url, 'http://proxy');
  const isList = u.searchParams.get('comp') === 'list';
  switch (method) {
    case 'GET':
      return isList ? 'list' : u.pathname.split('/').filter((s) => s !== '').length > 2 ? 'get' : 'other';
    case 'HEAD':
      return 'head';
    case 'PUT':
      return 'put';
    case 'DELETE':
      return 'delete';
    default:
      return 'other';
  }
}

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="utf-8"?>\n<Error><Code>${code}</Code><Message>${message}\nRequestId:fault-proxy\nTime:2024-01-01T00:00:00.0000000Z</Message></Error>`;
}

function absError(status: number, code: string, message: string): FaultAction {
  return { do: 'reply', status, headers: { 'content-type': 'application/xml', 'x-ms-error-code': code }, body: errorXml(code, message) };
}

function absAction(rule: AbsFaultRule | undefined): FaultAction {
  switch (rule?.kind) {
    case 'internal-error':
      return absError(500, 'InternalError', 'Server encountered an internal error. Please try again after some time.');
    case 'server-busy':
      return absError(503, 'ServerBusy', 'The server is currently unable to receive requests. Please retry your request.');
    case 'auth-failed':
      return absError(403, 'AuthenticationFailed', 'Server failed to authenticate the request.');
    case 'reset':
      return { do: 'reset' };
    case 'stall':
      return { do: 'stall' };
    default:
      return bodyFault(rule?.kind, rule?.afterBytes);
  }
}

/**
 * An HTTP proxy on 127.0.0.1 between an Azure client and Azurite that counts
 * requests by kind and, following the rules it is given, answers some with
 * Azure-style errors or breaks or stalls them. Clients use `origin` (with
 * the account path) as their blob endpoint.
 */
export class AbsFaultProxy extends HttpFaultProxy<AbsRequestKind, AbsFaultRule, LoggedAbsRequest> {
  private constructor(target: string) {
    super(target, {
      kinds: ABS_REQUEST_KINDS,
      classify: (req) => classifyAbsRequest(req.method ?? 'GET', req.url ?? '/'),
      log: (req, kind) => {
        const range = req.headers['x-ms-range'] ?? req.headers.range;
        return { method: req.method ?? 'GET', path: req.url ?? '/', kind, range: Array.isArray(range) ? range[0] : range };
      },
      act: (_req, rule) => absAction(rule),
    });
  }

  /** Starts a proxy in front of `target` (`http://host:port`, no path). */
  static async start(target: string): Promise<AbsFaultProxy> {
    return new AbsFaultProxy(target).listen();
  }
}
