// Runs the Cloud Storage emulator's HTTP app from firebase-tools on 127.0.0.1 (port from argv[2], 0 for any)
// without `firebase emulators:start`, which needs Java and downloads a rules jar. Only the GCS JSON API
// (the admin storage layer, no security rules) is used. Prints `listening PORT` once it accepts connections.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { StorageEmulator } = require('firebase-tools/lib/emulator/storage/index.js');
const { createApp } = require('firebase-tools/lib/emulator/storage/server.js');
const { EmulatorRegistry } = require('firebase-tools/lib/emulator/registry.js');

/** Any project id does: the GCS API paths name buckets, not projects. */
const PROJECT_ID = 'tidemark-test';
const port = Number(process.argv[2] ?? '0');

const emulator = new StorageEmulator({ projectId: PROJECT_ID, host: '127.0.0.1', port });
const app = await createApp(PROJECT_ID, emulator);
const server = app.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  // Object metadata carries links built from the registered emulator's address.
  emulator.args.port = actual;
  EmulatorRegistry.set('storage', emulator);
  console.log(`listening ${actual}`);
});
server.keepAliveTimeout = 60_000;
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
