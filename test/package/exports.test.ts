import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// The package resolves itself by name through package.json "exports", so these
// imports load the built dist/ files exactly as a user's `import` would.
describe('published entry points (built dist)', () => {
  it('has type declarations next to each entry point', () => {
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/ltx/index.js', 'dist/ltx/index.d.ts', 'dist/eventlog/index.js', 'dist/eventlog/index.d.ts', 'dist/testing.js', 'dist/testing.d.ts', 'dist/cli/main.js']) {
      assert.ok(existsSync(join(ROOT, f)), `${f} is missing: run npm run build first`);
    }
  });

  it("'tidemark' exports the replicator, restore, the store, replicas, config and logging", async () => {
    const m = (await import('tidemark' as string)) as Record<string, unknown>;
    for (const name of ['TidemarkError', 'DbReplicator', 'restore', 'restoreIfMissing', 'calcRestorePlan', 'FileReplicaClient', 'createReplicaClient', 'Store', 'CompactionLevels', 'loadConfig', 'parseConfig', 'createLogger', 'NoBackupsError']) {
      assert.equal(typeof m[name], 'function', `${name} is not exported`);
    }
  });

  it("'tidemark/ltx' exports the LTX codec", async () => {
    const m = (await import('tidemark/ltx' as string)) as Record<string, unknown>;
    for (const name of ['LtxEncoder', 'LtxDecoder', 'decodeLtx', 'verifyLtx', 'compactLtx', 'restoreDatabase', 'readPageMap', 'makeHeader', 'MemorySink', 'MemorySource', 'withFileSource', 'LtxError', 'crc64']) {
      assert.equal(typeof m[name], 'function', `${name} is not exported`);
    }
  });

  it("'tidemark/testing' exports fault injection", async () => {
    const m = (await import('tidemark/testing' as string)) as Record<string, unknown>;
    for (const name of ['FaultInjectingClient', 'InjectedFaultError', 'seededRandom']) {
      assert.equal(typeof m[name], 'function', `${name} is not exported`);
    }
  });

  it("'tidemark/eventlog' exports EventLog and its errors", async () => {
    const m = (await import('tidemark/eventlog' as string)) as Record<string, unknown>;
    for (const name of ['EventLog', 'EventLogError', 'EventLogClosedError', 'EventLogCorruptionError', 'EventLogLockedError']) {
      assert.equal(typeof m[name], 'function', `${name} is not exported`);
    }
  });
});
