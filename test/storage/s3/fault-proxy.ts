import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

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

export interface FaultRule {
  kind: FaultKind;
  /** Which requests it applies to (default: every kind). */
  on?: S3RequestKind | readonly S3RequestKind[];
  /** How many matching requests it hits before it is used up (default: all of them). */
  times?: number;
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

interface ActiveRule extends FaultRule {
  remaining: number;
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

/** How long headers get to reach the client before a reset-body or stall-body at byte 0 takes effect. */
const HEADERS_ONLY_GRACE_MS = 20;

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`;
}

/**
 * An HTTP proxy on 127.0.0.1 between an S3 client and a real S3 server that
 * counts requests by kind and, following the rules it is given, answers some
 * with errors or breaks, stalls or delays them. Clients use `endpoint` as
 * their S3 endpoint (path-style).
 */
export class FaultProxy {
  readonly #server: Server;
  readonly #target: URL;
  readonly #sockets = new Set<Socket>();
  #rules: ActiveRule[] = [];
  #counts = FaultProxy.#zero();
  #injected = 0;
  #log: LoggedRequest[] = [];
  endpoint = '';

  private constructor(target: string) {
    this.#target = new URL(target);
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  static #zero(): Record<S3RequestKind, number> {
    return Object.fromEntries(S3_REQUEST_KINDS.map((k) => [k, 0])) as Record<S3RequestKind, number>;
  }

  /** Starts a proxy in front of `target` (`http://host:port`). */
  static async start(target: string): Promise<FaultProxy> {
    const p = new FaultProxy(target);
    await new Promise<void>((resolve) => p.#server.listen(0, '127.0.0.1', resolve));
    const addr = p.#server.address();
    if (addr === null || typeof addr === 'string') throw new Error('proxy has no TCP address');
    p.endpoint = `http://127.0.0.1:${addr.port}`;
    return p;
  }

  /** Requests seen since the start or the last resetCounts(), by kind. */
  get counts(): Readonly<Record<S3RequestKind, number>> {
    return { ...this.#counts };
  }

  get totalRequests(): number {
    return Object.values(this.#counts).reduce((a, b) => a + b, 0);
  }

  /** Faults injected so far. */
  get injected(): number {
    return this.#injected;
  }

  /** Every request since the start or the last resetCounts(): method, path and query as sent, kind. */
  get requests(): readonly LoggedRequest[] {
    return [...this.#log];
  }

  resetCounts(): void {
    this.#counts = FaultProxy.#zero();
    this.#log = [];
  }

  /** Adds a rule; rules are tried in the order they were added, and the first that matches a request applies. */
  inject(rule: FaultRule): this {
    this.#rules.push({ ...rule, remaining: rule.times ?? Infinity });
    return this;
  }

  /** Removes every rule; requests pass through untouched. */
  clear(): void {
    this.#rules = [];
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #take(kind: S3RequestKind): ActiveRule | undefined {
    for (const r of this.#rules) {
      if (r.remaining <= 0) continue;
      const on = r.on === undefined ? undefined : typeof r.on === 'string' ? [r.on] : r.on;
      if (on !== undefined && !on.includes(kind)) continue;
      r.remaining--;
      this.#injected++;
      return r;
    }
    return undefined;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const kind = classifyS3Request(req.method ?? 'GET', req.url ?? '/');
    this.#counts[kind]++;
    this.#log.push({ method: req.method ?? 'GET', path: req.url ?? '/', kind, headers: { ...req.headers } });
    const rule = this.#take(kind);
    switch (rule?.kind) {
      case 'internal-error':
        return this.#reply(req, res, 500, 'InternalError', 'We encountered an internal error. Please try again.');
      case 'slow-down':
        return this.#reply(req, res, 503, 'SlowDown', 'Please reduce your request rate.');
      case 'too-many-requests':
        return this.#reply(req, res, 429, 'TooManyRequests', 'Please reduce your request rate.');
      case 'access-denied':
        return this.#reply(req, res, 403, 'AccessDenied', 'Access Denied');
      case 'reset':
        req.resume();
        req.socket.destroy();
        return;
      case 'stall':
        // The request is read and never answered; the client's timeout ends it.
        req.resume();
        return;
      case 'delay':
        await sleep(rule.delayMs ?? 0);
        break;
      case 'reply': {
        req.resume();
        const body = rule.body ?? '';
        res.writeHead(rule.status ?? 200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      default:
        break;
    }
    this.#forward(req, res, rule);
  }

  #reply(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string): void {
    req.resume();
    const body = req.method === 'HEAD' ? '' : errorXml(code, message);
    res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  #forward(req: IncomingMessage, res: ServerResponse, rule: ActiveRule | undefined): void {
    const upstream = httpRequest(
      {
        host: this.#target.hostname,
        port: this.#target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        const breakAt = rule?.kind === 'reset-body' || rule?.kind === 'stall-body' ? (rule.afterBytes ?? 0) : undefined;
        if (breakAt === undefined) {
          up.pipe(res);
          return;
        }
        let sent = 0;
        let broken = false;
        up.on('data', (chunk: Buffer) => {
          if (broken) return;
          const room = breakAt - sent;
          if (chunk.length < room) {
            sent += chunk.length;
            res.write(chunk);
            return;
          }
          broken = true;
          const last = chunk.subarray(0, room);
          const cut = (): void => {
            up.destroy();
            if (rule!.kind === 'reset-body') res.socket?.destroy();
            // stall-body: the socket stays open, silent, until the client closes it.
          };
          if (last.length > 0) {
            res.write(last, cut);
          } else {
            // Headers only: they go out first, so the client sees a response that then breaks.
            res.flushHeaders();
            setTimeout(cut, HEADERS_ONLY_GRACE_MS);
          }
        });
        up.on('end', () => {
          if (!broken) res.end();
        });
      },
    );
    upstream.on('error', () => res.socket?.destroy());
    req.pipe(upstream);
  }
}
