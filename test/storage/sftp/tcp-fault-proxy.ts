import { connect, createServer, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  server: Socket;
}

/**
 * A TCP proxy on 127.0.0.1 in front of one server port. It counts
 * connections and bytes each way, and on command cuts connections (at once,
 * or once a number of further bytes came from the server), stalls them (no
 * byte moves either way until resumed), or refuses new ones.
 */
export class TcpFaultProxy {
  readonly #server: Server;
  readonly #pairs = new Set<Pair>();
  #stalled = false;
  #refusing = false;
  /** Bytes still to pass (in one direction) before every connection is cut; undefined: no cut armed. */
  #cutAfter: { up: boolean; bytes: number } | undefined;
  port = 0;
  connections = 0;
  bytesUp = 0;
  bytesDown = 0;
  cuts = 0;

  private constructor(private readonly targetPort: number) {
    this.#server = createServer((client) => this.#accept(client));
  }

  static async start(targetPort: number): Promise<TcpFaultProxy> {
    const p = new TcpFaultProxy(targetPort);
    await new Promise<void>((resolve) => p.#server.listen(0, '127.0.0.1', resolve));
    p.port = (p.#server.address() as { port: number }).port;
    return p;
  }

  get open(): number {
    return this.#pairs.size;
  }

  resetCounts(): void {
    this.connections = 0;
    this.bytesUp = 0;
    this.bytesDown = 0;
    this.cuts = 0;
  }

  /** Cuts every open connection now. */
  cutAll(): void {
    for (const p of this.#pairs) this.#cut(p);
  }

  /** Cuts every open connection once `bytes` more bytes have come from the server (the part up to there is passed on). */
  cutAfterDownstream(bytes: number): void {
    this.#cutAfter = { up: false, bytes };
  }

  /** The same for bytes going to the server (an upload). */
  cutAfterUpstream(bytes: number): void {
    this.#cutAfter = { up: true, bytes };
  }

  /** Stops every byte in both directions on open and new connections until resume(). */
  stall(): void {
    this.#stalled = true;
    for (const p of this.#pairs) {
      p.client.pause();
      p.server.pause();
    }
  }

  resume(): void {
    this.#stalled = false;
    for (const p of this.#pairs) {
      p.client.resume();
      p.server.resume();
    }
  }

  /** New connections are closed as soon as they arrive. */
  refuse(on: boolean): void {
    this.#refusing = on;
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.connections++;
    if (this.#refusing) {
      client.destroy();
      return;
    }
    const server = connect({ host: '127.0.0.1', port: this.targetPort });
    const pair: Pair = { client, server };
    this.#pairs.add(pair);
    if (this.#stalled) {
      client.pause();
      server.pause();
    }
    client.on('data', (d: Buffer) => this.#forward(d, true, server));
    server.on('data', (d: Buffer) => this.#forward(d, false, client));
    const end = (): void => this.#cut(pair);
    client.on('error', end);
    server.on('error', end);
    client.on('close', end);
    server.on('close', end);
  }

  #forward(d: Buffer, up: boolean, to: Socket): void {
    const cut = this.#cutAfter;
    if (cut !== undefined && cut.up === up) {
      if (d.length >= cut.bytes) {
        const part = d.subarray(0, cut.bytes);
        this.#cutAfter = undefined;
        this.#count(part.length, up);
        // Nothing more moves once the cut is due; the part before it is delivered first.
        for (const p of this.#pairs) {
          p.client.pause();
          p.server.pause();
        }
        to.write(part, () => this.cutAll());
        return;
      }
      cut.bytes -= d.length;
    }
    this.#count(d.length, up);
    to.write(d);
  }

  #count(n: number, up: boolean): void {
    if (up) this.bytesUp += n;
    else this.bytesDown += n;
  }

  #cut(p: Pair): void {
    if (!this.#pairs.delete(p)) return;
    this.cuts++;
    p.client.destroy();
    p.server.destroy();
  }
}
