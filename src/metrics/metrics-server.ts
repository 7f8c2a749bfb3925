import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TidemarkError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ReplicationMetrics } from './replication-metrics.js';

/** The metrics server could not listen on its address. */
export class MetricsServerError extends TidemarkError {
  override name = 'MetricsServerError';
}

export interface MetricsServer {
  /** `host:port` the server listens on (the port resolved when 0 was asked). */
  readonly address: string;
  close(): Promise<void>;
}

/** Splits Litestream's `addr` (`host:port`, `:port` for every interface, `[v6]:port`). */
function splitAddr(addr: string): { host: string | undefined; port: number } {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host: host === '' ? undefined : host, port: Number(addr.slice(i + 1)) };
}

/**
 * Serves `GET /metrics` (Prometheus text format) on `addr`, as Litestream's
 * `addr` does. Anything else is 404. Metrics are computed per request, so an
 * idle daemon that nobody scrapes does no work for them.
 */
export async function startMetricsServer(addr: string, metrics: ReplicationMetrics, logger?: Logger): Promise<MetricsServer> {
  const { host, port } = splitAddr(addr);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    metrics.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': metrics.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        logger?.error('metrics failed', { error: err instanceof Error ? err.message : String(err) });
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed\n');
      },
    );
  });
  server.listen(port, host);
  try {
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([err]) => {
        throw err;
      }),
    ]);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === 'EADDRINUSE' ? 'address already in use' : code === 'EACCES' ? 'permission denied' : err instanceof Error ? err.message : String(err);
    throw new MetricsServerError(`addr ${addr}: cannot serve metrics: ${why}`, { cause: err });
  }
  const a = server.address() as AddressInfo;
  const address = `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
