/**
 * Child process for the crash test: restores from a deliberately slow replica
 * so the parent can kill it part way through. Arguments: replica root, output path.
 */
import { restore } from '../../src/restore/restore.js';
import { FaultInjectingClient } from '../../src/storage/fault-injecting-client.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';

const [root, outputPath] = process.argv.slice(2);
if (root === undefined || outputPath === undefined) throw new Error('usage: restore-child <replica root> <output path>');
const SLOW_REQUEST_MS = 150;
await restore({ client: new FaultInjectingClient(new FileReplicaClient(root), { delayMs: SLOW_REQUEST_MS }), outputPath, parallelism: 1 });
