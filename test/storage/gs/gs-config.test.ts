import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../src/config/parse-config.js';
import { createReplicaClient } from '../../../src/storage/replica-url.js';

function load(yaml: string): { type: string; url: string; options: Record<string, unknown> } {
  const c = parseConfig(yaml, { filename: '/etc/litestream.yml', env: {}, cwd: '/', homeDir: '/root', checkDirs: false });
  assert.equal(c.dbs.length, 1);
  const r = c.dbs[0]!.replica!;
  return { type: r.type, url: r.url, options: { ...r.options } };
}

// Litestream's GCS guide writes its replica in these two ways (BUCKET and PATH filled in).
describe("litestream.yml for a gs replica, as Litestream's documentation writes it", () => {
  it('the URL form loads unchanged and gives a gs client', () => {
    const r = load(`dbs:
  - path: /path/to/local/db
    replica:
      url: gs://mybkt.litestream.io/db
`);
    assert.deepEqual(r, { type: 'gs', url: 'gs://mybkt.litestream.io/db', options: {} });
    const c = createReplicaClient(r.url, r.options as never);
    assert.equal(c.type, 'gs');
    assert.equal((c as { name?: string }).name, 'gs://mybkt.litestream.io/db');
  });

  it('the type, bucket and path form loads unchanged and names the same replica', () => {
    const r = load(`dbs:
  - path: /path/to/local/db
    replica:
      type: gs
      bucket: mybkt.litestream.io
      path: db
`);
    assert.equal(r.type, 'gs');
    assert.equal(r.url, 'gs://mybkt.litestream.io/db');
    const c = createReplicaClient(r.url, r.options as never);
    assert.equal((c as { name?: string }).name, 'gs://mybkt.litestream.io/db');
  });
});
