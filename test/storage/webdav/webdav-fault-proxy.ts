import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface WebdavFaultRule {
  /** An HTTP status to answer with, without reaching the server; or 'reset' to cut the connection before any response. */
  reply: number | 'reset';
  /** Which methods it applies to (default: all). */
  on?: string | readonly string[];
  /** How many matching requests it hits before it is used up (default: all of them). */
  times?: number;
}

export interface LoggedWebdavRequest {
  method: string;
  path: string;
  contentLength: string | undefined;
  transferEncoding: string | undefined;
  range: string | undefined;
}

interface ActiveRule extends WebdavFaultRule {
  remaining: number;
}

/**
 * An HTTP proxy on 127.0.0.1 in front of a WebDAV server that counts
 * requests by method and, following the rules it is given, answers some
 * with an error status or cuts their connection. Connection-level faults
 * (stalls, cuts mid-body) are TcpFaultProxy's.
 */
export class WebdavFaultProxy {
  readonly #server: Server;
  readonly #target: URL;
  readonly #sockets = new Set<Socket>();
  #rules: ActiveRule[] = [];
  #counts: Record<string, number> = {};
  #log: LoggedWebdavRequest[] = [];
  /** Drop Range headers before they reach the server, as a server without range support would ignore them. */
  ignoreRange = false;
  port = 0;

  private constructor(target: string) {
    this.#target = new URL(target);
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  /** Starts a proxy in front of `target` (`http://host:port`). */
  static async start(target: string): Promise<WebdavFaultProxy> {
    const p = new WebdavFaultProxy(target);
    await new Promise<void>((resolve) => p.#server.listen(0, '127.0.0.1', resolve));
    p.port = (p.#server.address() as { port: number }).port;
    return p;
  }

  /** Requests seen since the start or the last resetCounts(), by method. */
  get counts(): Readonly<Record<string, number>> {
    return { ...this.#counts };
  }

  get totalRequests(): number {
    return Object.values(this.#counts).reduce((a, b) => a + b, 0);
  }

  /** Requests seen since the start or the last resetCounts(), in order. */
  get requests(): readonly LoggedWebdavRequest[] {
    return [...this.#log];
  }

  resetCounts(): void {
    this.#counts = {};
    this.#log = [];
  }

  inject(rule: WebdavFaultRule): this {
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

  #take(method: string): ActiveRule | undefined {
    for (const r of this.#rules) {
      if (r.remaining <= 0) continue;
      const on = r.on === undefined ? undefined : typeof r.on === 'string' ? [r.on] : r.on;
      if (on !== undefined && !on.includes(method)) continue;
      r.remaining--;
      return r;
    }
    return undefined;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    this.#counts[method] = (this.#counts[method] ?? 0) + 1;
    const h = req.headers;
    this.#log.push({
      method,
      path: decodeURIComponent(req.url ?? '/'),
      contentLength: h['content-length'],
      transferEncoding: h['transfer-encoding'],
      range: h.range,
    });
    const rule = this.#take(method);
    if (rule?.reply === 'reset') {
      req.resume();
      req.socket.destroy();
      return;
    }
    if (rule !== undefined) {
      req.resume();
      res.writeHead(rule.reply, { 'content-type': 'text/plain', 'content-length': 0 });
      res.end();
      return;
    }
    // Host is passed on unchanged: a MOVE's Destination names the proxy, and the server checks the two agree.
    const headers = { ...req.headers };
    if (this.ignoreRange) {
      delete headers.range;
      delete headers['if-match'];
    }
    const upstream = httpRequest({ host: this.#target.hostname, port: this.#target.port, method, path: req.url, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.socket?.destroy());
    req.pipe(upstream);
  }
}
