/**
 * Runs s3rver, a real S3-protocol HTTP server, for tests: in a process of its
 * own so that a test's event loop (or a busy benchmark writer) never stalls
 * it. Usage: node --openssl-legacy-provider --import tsx s3-server-child.ts <dataDir> <bucket>...
 * With S3RVER_TLS_KEY and S3RVER_TLS_CERT (PEM file paths) set, it serves HTTPS.
 * Prints one JSON line `{"port":N}` once listening on 127.0.0.1, and exits when
 * its stdin closes (the parent went away) or on SIGTERM.
 *
 * s3rver encodes ListObjectsV2 continuation tokens with DES, which OpenSSL 3
 * only offers through its legacy provider: without the flag, every truncated
 * listing fails with a 500.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverCtor = new (options: Record<string, unknown>) => S3rverInstance;

const [dataDir, ...buckets] = process.argv.slice(2);
if (dataDir === undefined) throw new Error('usage: s3-server-child.ts <dataDir> <bucket>...');
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;
const keyPath = process.env['S3RVER_TLS_KEY'];
const certPath = process.env['S3RVER_TLS_CERT'];
const tls = keyPath !== undefined && certPath !== undefined ? { key: readFileSync(keyPath), cert: readFileSync(certPath) } : {};
const server = new S3rver({
  ...tls,
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: dataDir,
  configureBuckets: buckets.map((name) => ({ name, configs: [] })),
});
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  // Open keep-alive connections would hold close() up; the process is going anyway.
  setTimeout(() => process.exit(0), 200).unref();
  server.close().finally(() => process.exit(0));
};
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
