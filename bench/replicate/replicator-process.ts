/** Starting and stopping the replicator child (replicator-child.ts) from the benchmark. */
import { S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY } from '../../test/storage/s3/s3-server.js';
import { nextLine, spawnChild, type Child } from './child-process.js';
import { READY_LINE, type ChildReport } from './protocol.js';

/** How long the replicator gets to open, and to close and report, before the run fails. */
export const CHILD_TIMEOUT_MS = 30_000;

/** s3rver's credentials, handed to the replicator the way a user would: through Litestream's variables. */
function childEnv(): NodeJS.ProcessEnv {
  return { ...process.env, LITESTREAM_ACCESS_KEY_ID: S3RVER_ACCESS_KEY_ID, LITESTREAM_SECRET_ACCESS_KEY: S3RVER_SECRET_ACCESS_KEY };
}

/** Starts replicating `dbPath` to `replica` (a directory or URL) with the default settings; resolves once it is syncing. */
export async function startReplicator(dbPath: string, replica: string): Promise<Child> {
  const child = spawnChild('replicator child', 'replicator-child.ts', [dbPath, replica], childEnv());
  try {
    const line = await nextLine(child, 'ready line', CHILD_TIMEOUT_MS);
    if (line !== READY_LINE) throw new Error(`replicator child: unexpected output ${JSON.stringify(line)}`);
  } catch (err) {
    child.proc.kill('SIGKILL');
    throw err;
  }
  return child;
}

/** Closes the replicator (it finishes its sync and upload) and returns its resource usage. */
export async function stopReplicator(child: Child): Promise<ChildReport> {
  child.proc.kill('SIGTERM');
  return JSON.parse(await nextLine(child, 'report', CHILD_TIMEOUT_MS)) as ChildReport;
}
