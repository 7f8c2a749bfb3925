import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long headers get to reach the client before a break of the body at byte 0 takes effect. */
const HEADERS_ONLY_GRACE_MS = 20;

/** Which requests a rule hits, and how many times. */
export interface HttpFaultRuleBase<K extends string> {
  /** Which requests it applies to (default: every kind). */
  on?: K | readonly K[];
  /** How many matching requests it hits before it is used up (default: all of them). */
  times?: number;
}

/** What the proxy does with one request. */
export type FaultAction =
  /** Answers without reaching the server. */
  | { do: 'reply'; status: number; headers?: Record<string, string | number>; body?: string }
  /** Cuts the connection before any response. */
  | { do: 'reset' }
  /** Reads the request and never answers: the client's timeout ends it. */
  | { do: 'stall' }
  /**
   * Passes the request on, after `delayMs`; with `breakAfter`, the response
   * body stops after that many bytes, and the connection is cut (`reset`)
   * or left open and silent.
   */
  | { do: 'forward'; delayMs?: number; breakAfter?: { bytes: number; reset: boolean }; headers?: IncomingHttpHeaders };

/** What one backend's proxy decides: how a request is named, logged and, under a rule, answered. */
export interface HttpFaultHooks<K extends string, R extends HttpFaultRuleBase<K>, L> {
  /** Every kind, so counts start at zero for each; without it, kinds are counted as they come. */
  readonly kinds?: readonly K[];
  classify(req: IncomingMessage): K;
  log(req: IncomingMessage, kind: K): L;
  /** The action for a request; `rule` is the first rule that matched, if any. */
  act(req: IncomingMessage, rule: R | undefined): FaultAction;
}

/**
 * An HTTP proxy on 127.0.0.1 in front of a real server that counts requests
 * by kind and, following the rules it is given, answers some itself, or
 * breaks, stalls or delays them. Each backend's proxy says what its
 * requests are and what its errors look like (HttpFaultHooks).
 */
export class HttpFaultProxy<K extends string, R extends HttpFaultRuleBase<K>, L> {
  readonly #server: Server;
  readonly #target: URL;
  readonly #hooks: HttpFaultHooks<K, R, L>;
  readonly #sockets = new Set<Socket>();
  #rules: (R & { remaining: number })[] = [];
  #counts: Record<string, number>;
  #injected = 0;
  #log: L[] = [];
  port = 0;
  /** `http://127.0.0.1:PORT`. */
  origin = '';

  protected constructor(target: string, hooks: HttpFaultHooks<K, R, L>) {
    this.#target = new URL(target);
    this.#hooks = hooks;
    this.#counts = this.#zero();
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  protected async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const addr = this.#server.address();
    if (addr === null || typeof addr === 'string') throw new Error('proxy has no TCP address');
    this.port = addr.port;
    this.origin = `http://127.0.0.1:${addr.port}`;
    return this;
  }

  /** Requests seen since the start or the last resetCounts(), by kind. */
  get counts(): Readonly<Record<K, number>> {
    return { ...this.#counts } as Record<K, number>;
  }

  get totalRequests(): number {
    return Object.values(this.#counts).reduce((a, b) => a + b, 0);
  }

  /** Faults injected so far. */
  get injected(): number {
    return this.#injected;
  }

  /** Every request since the start or the last resetCounts(), in order. */
  get requests(): readonly L[] {
    return [...this.#log];
  }

  resetCounts(): void {
    this.#counts = this.#zero();
    this.#log = [];
  }

  /** Adds a rule; rules are tried in the order they were added, and the first that matches a request applies. */
  inject(rule: R): this {
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

  #zero(): Record<string, number> {
    return Object.fromEntries((this.#hooks.kinds ?? []).map((k) => [k, 0]));
  }

  #take(kind: K): R | undefined {
    for (const r of this.#rules) {
      if (r.remaining <= 0) continue;
      const on = r.on === undefined ? undefined : typeof r.on === 'string' ? [r.on] : r.on;
      if (on !== undefined && !(on as readonly string[]).includes(kind)) continue;
      r.remaining--;
      this.#injected++;
      return r;
    }
    return undefined;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const kind = this.#hooks.classify(req);
    this.#counts[kind] = (this.#counts[kind] ?? 0) + 1;
    this.#log.push(this.#hooks.log(req, kind));
    const action = this.#hooks.act(req, this.#take(kind));
    switch (action.do) {
      case 'reply': {
        req.resume();
        const body = req.method === 'HEAD' ? '' : (action.body ?? '');
        res.writeHead(action.status, { ...action.headers, 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      case 'reset':
        req.resume();
        req.socket.destroy();
        return;
      case 'stall':
        req.resume();
        return;
      case 'forward':
        if (action.delayMs !== undefined) await sleep(action.delayMs);
        this.#forward(req, res, action);
    }
  }

  #forward(req: IncomingMessage, res: ServerResponse, action: Extract<FaultAction, { do: 'forward' }>): void {
    // The Host header is passed on unchanged: signatures, upload session URLs and WebDAV's Destination all name the proxy.
    const headers = action.headers ?? req.headers;
    const upstream = httpRequest({ host: this.#target.hostname, port: this.#target.port, method: req.method, path: req.url, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      const brk = action.breakAfter;
      if (brk === undefined) {
        up.pipe(res);
        return;
      }
      let sent = 0;
      let broken = false;
      up.on('data', (chunk: Buffer) => {
        if (broken) return;
        const room = brk.bytes - sent;
        if (chunk.length < room) {
          sent += chunk.length;
          res.write(chunk);
          return;
        }
        broken = true;
        const cut = (): void => {
          up.destroy();
          // Without reset the socket stays open, silent, until the client closes it.
          if (brk.reset) res.socket?.destroy();
        };
        const last = chunk.subarray(0, room);
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
    });
    upstream.on('error', () => res.socket?.destroy());
    req.pipe(upstream);
  }
}

/** The forward action for the common body faults: `reset-body` and `stall-body` break after `afterBytes`. */
export function bodyFault(kind: string | undefined, afterBytes: number | undefined): FaultAction {
  if (kind === 'reset-body' || kind === 'stall-body') return { do: 'forward', breakAfter: { bytes: afterBytes ?? 0, reset: kind === 'reset-body' } };
  return { do: 'forward' };
}
