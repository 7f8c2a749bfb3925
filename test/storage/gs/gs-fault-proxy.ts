import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

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

export interface GsFaultRule {
  kind: GsFaultKind;
  /** Which requests it applies to (default: every kind). */
  on?: GsRequestKind | readonly GsRequestKind[];
  /** How many matching requests it hits before it is used up (default: all of them). */
  times?: number;
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

interface ActiveRule extends GsFaultRule {
  remaining: number;
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

/** How long headers get to reach the client before a reset-body or stall-body at byte 0 takes effect. */
const HEADERS_ONLY_GRACE_MS = 20;

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

/**
 * An HTTP proxy on 127.0.0.1 between a GCS client and the emulator that
 * counts requests by kind and, following the rules it is given, answers some
 * with GCS's JSON errors or breaks or stalls them. The emulator has no
 * authentication, so wrong credentials are played by the proxy's 401 and
 * 403. Clients use `origin` as STORAGE_EMULATOR_HOST.
 */
export class GsFaultProxy {
  readonly #server: Server;
  readonly #target: URL;
  readonly #sockets = new Set<Socket>();
  #rules: ActiveRule[] = [];
  #counts = GsFaultProxy.#zero();
  #injected = 0;
  #log: LoggedGsRequest[] = [];
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

  static #zero(): Record<GsRequestKind, number> {
    return Object.fromEntries(GS_REQUEST_KINDS.map((k) => [k, 0])) as Record<GsRequestKind, number>;
  }

  /** Starts a proxy in front of `target` (`http://host:port`). */
  static async start(target: string): Promise<GsFaultProxy> {
    const p = new GsFaultProxy(target);
    await new Promise<void>((resolve) => p.#server.listen(0, '127.0.0.1', resolve));
    const addr = p.#server.address();
    if (addr === null || typeof addr === 'string') throw new Error('proxy has no TCP address');
    p.origin = `http://127.0.0.1:${addr.port}`;
    return p;
  }

  /** Requests seen since the start or the last resetCounts(), by kind. */
  get counts(): Readonly<Record<GsRequestKind, number>> {
    return { ...this.#counts };
  }

  get totalRequests(): number {
    return Object.values(this.#counts).reduce((a, b) => a + b, 0);
  }

  /** Faults injected so far. */
  get injected(): number {
    return this.#injected;
  }

  get requests(): readonly LoggedGsRequest[] {
    return [...this.#log];
  }

  resetCounts(): void {
    this.#counts = GsFaultProxy.#zero();
    this.#log = [];
  }

  /** Adds a rule; rules are tried in the order they were added, and the first that matches a request applies. */
  inject(rule: GsFaultRule): this {
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

  #take(kind: GsRequestKind): ActiveRule | undefined {
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
    const kind = classifyGsRequest(req.method ?? 'GET', req.url ?? '/');
    this.#counts[kind]++;
    const range = req.headers.range;
    this.#log.push({ method: req.method ?? 'GET', path: req.url ?? '/', kind, range });
    const rule = this.#take(kind);
    const reply = rule === undefined ? undefined : REPLIES[rule.kind];
    if (reply !== undefined) return this.#reply(req, res, ...reply);
    switch (rule?.kind) {
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

  #reply(req: IncomingMessage, res: ServerResponse, status: number, reason: string, message: string): void {
    req.resume();
    const body = errorJson(status, reason, message);
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  #forward(req: IncomingMessage, res: ServerResponse, rule: ActiveRule | undefined): void {
    const upstream = httpRequest(
      // The Host header is passed on unchanged, so the upload session URLs the emulator hands out point back at the proxy.
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
