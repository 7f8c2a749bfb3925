import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

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

export interface AbsFaultRule {
  kind: AbsFaultKind;
  /** Which requests it applies to (default: every kind). */
  on?: AbsRequestKind | readonly AbsRequestKind[];
  /** How many matching requests it hits before it is used up (default: all of them). */
  times?: number;
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

interface ActiveRule extends AbsFaultRule {
  remaining: number;
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

/** How long headers get to reach the client before a reset-body or stall-body at byte 0 takes effect. */
const HEADERS_ONLY_GRACE_MS = 20;

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="utf-8"?>\n<Error><Code>${code}</Code><Message>${message}\nRequestId:fault-proxy\nTime:2024-01-01T00:00:00.0000000Z</Message></Error>`;
}

/**
 * An HTTP proxy on 127.0.0.1 between an Azure client and Azurite that counts
 * requests by kind and, following the rules it is given, answers some with
 * Azure-style errors or breaks or stalls them. Clients use `endpoint` (with
 * the account path) as their blob endpoint.
 */
export class AbsFaultProxy {
  readonly #server: Server;
  readonly #target: URL;
  readonly #sockets = new Set<Socket>();
  #rules: ActiveRule[] = [];
  #counts = AbsFaultProxy.#zero();
  #injected = 0;
  #log: LoggedAbsRequest[] = [];
  /** `http://127.0.0.1:PORT`. */
  origin = '';

  private constructor(target: string) {
    this.#target = new URL(target);
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  static #zero(): Record<AbsRequestKind, number> {
    return Object.fromEntries(ABS_REQUEST_KINDS.map((k) => [k, 0])) as Record<AbsRequestKind, number>;
  }

  /** Starts a proxy in front of `target` (`http://host:port`, no path). */
  static async start(target: string): Promise<AbsFaultProxy> {
    const p = new AbsFaultProxy(target);
    await new Promise<void>((resolve) => p.#server.listen(0, '127.0.0.1', resolve));
    const addr = p.#server.address();
    if (addr === null || typeof addr === 'string') throw new Error('proxy has no TCP address');
    p.origin = `http://127.0.0.1:${addr.port}`;
    return p;
  }

  /** Requests seen since the start or the last resetCounts(), by kind. */
  get counts(): Readonly<Record<AbsRequestKind, number>> {
    return { ...this.#counts };
  }

  get totalRequests(): number {
    return Object.values(this.#counts).reduce((a, b) => a + b, 0);
  }

  /** Faults injected so far. */
  get injected(): number {
    return this.#injected;
  }

  get requests(): readonly LoggedAbsRequest[] {
    return [...this.#log];
  }

  resetCounts(): void {
    this.#counts = AbsFaultProxy.#zero();
    this.#log = [];
  }

  /** Adds a rule; rules are tried in the order they were added, and the first that matches a request applies. */
  inject(rule: AbsFaultRule): this {
    this.#rules.push({ ...rule, remaining: rule.times ?? Infinity });
    return this;
  }

  clear(): void {
    this.#rules = [];
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #take(kind: AbsRequestKind): ActiveRule | undefined {
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

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const kind = classifyAbsRequest(req.method ?? 'GET', req.url ?? '/');
    this.#counts[kind]++;
    const range = req.headers['x-ms-range'] ?? req.headers.range;
    this.#log.push({ method: req.method ?? 'GET', path: req.url ?? '/', kind, range: Array.isArray(range) ? range[0] : range });
    const rule = this.#take(kind);
    switch (rule?.kind) {
      case 'internal-error':
        return this.#reply(req, res, 500, 'InternalError', 'Server encountered an internal error. Please try again after some time.');
      case 'server-busy':
        return this.#reply(req, res, 503, 'ServerBusy', 'The server is currently unable to receive requests. Please retry your request.');
      case 'auth-failed':
        return this.#reply(req, res, 403, 'AuthenticationFailed', 'Server failed to authenticate the request.');
      case 'reset':
        req.resume();
        req.socket.destroy();
        return;
      case 'stall':
        req.resume();
        return;
      default:
        this.#forward(req, res, rule);
    }
  }

  #reply(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string): void {
    req.resume();
    const body = req.method === 'HEAD' ? '' : errorXml(code, message);
    res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-ms-error-code': code });
    res.end(body);
  }

  #forward(req: IncomingMessage, res: ServerResponse, rule: ActiveRule | undefined): void {
    const upstream = httpRequest(
      // The Host header is passed on unchanged: the shared key signature does not cover it, and Azurite does not check it.
      { host: this.#target.hostname, port: this.#target.port, method: req.method, path: req.url, headers: req.headers },
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
          const cut = (): void => {
            up.destroy();
            if (rule!.kind === 'reset-body') res.socket?.destroy();
            // stall-body: the socket stays open, silent, until the client closes it.
          };
          const last = chunk.subarray(0, room);
          if (last.length > 0) {
            res.write(last, cut);
          } else {
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
