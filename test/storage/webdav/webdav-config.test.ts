import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../src/config/parse-config.js';
import { createReplicaClient, parseReplicaUrl, type RemoteReplicaUrl } from '../../../src/storage/replica-url.js';
import { resolveWebdavSettings } from '../../../src/storage/webdav/webdav-settings.js';

/** The three configurations of Litestream's WebDAV guide, as printed there. */
const GUIDE_URL_FORM = `dbs:
  - path: /path/to/local/db
    replica:
      url: webdavs://USER:PASSWORD@HOST/PATH
`;
const GUIDE_EXPANDED_FORM = `dbs:
  - path: /path/to/local/db
    replica:
      type:           webdav
      webdav-url:     https://example.com/webdav
      webdav-username: USER
      webdav-password: PASSWORD
      path:           /litestream/backups
`;
const GUIDE_ENV_FORM = `dbs:
  - path: /path/to/local/db
    replica:
      type:            webdav
      webdav-url:      https://example.com/webdav
      webdav-username: \${WEBDAV_USERNAME}
      webdav-password: \${WEBDAV_PASSWORD}
      path:            /litestream/backups
`;

function replicaOf(yaml: string, env: NodeJS.ProcessEnv = {}) {
  const cfg = parseConfig(yaml, { filename: '/etc/litestream.yml', env, cwd: '/', homeDir: '/root', checkDirs: false });
  const r = cfg.dbs[0]!.replica!;
  assert.ok(r !== undefined);
  return r;
}

function settingsOf(r: { url: string; options: Readonly<Record<string, string | number | boolean | undefined>> }) {
  return resolveWebdavSettings(parseReplicaUrl(r.url) as RemoteReplicaUrl, r.url, r.options);
}

describe("Litestream's WebDAV guide configurations load unchanged", () => {
  it('the URL form: HTTPS to HOST, the credentials from the URL', () => {
    const r = replicaOf(GUIDE_URL_FORM);
    assert.equal(r.type, 'webdav');
    const s = settingsOf(r);
    assert.equal(s.origin, 'https://host');
    assert.equal(s.path, 'PATH');
    assert.equal(s.username, 'USER');
    assert.equal(s.password, 'PASSWORD');
    assert.equal(createReplicaClient(r.url, r.options).type, 'webdav');
  });

  it('the expanded form: webdav-url with its base path, then path, and the webdav-* credentials', () => {
    const r = replicaOf(GUIDE_EXPANDED_FORM);
    assert.equal(r.type, 'webdav');
    const s = settingsOf(r);
    assert.equal(s.origin, 'https://example.com');
    assert.equal(s.path, 'webdav/litestream/backups');
    assert.deepEqual([s.username, s.password], ['USER', 'PASSWORD']);
    assert.equal((createReplicaClient(r.url, r.options) as { name?: string }).name, 'webdavs://example.com/webdav/litestream/backups');
  });

  it('the environment form: the credentials expanded from WEBDAV_USERNAME and WEBDAV_PASSWORD', () => {
    const r = replicaOf(GUIDE_ENV_FORM, { WEBDAV_USERNAME: 'alice', WEBDAV_PASSWORD: 's3cr#t' });
    const s = settingsOf(r);
    assert.deepEqual([s.origin, s.path, s.username, s.password], ['https://example.com', 'webdav/litestream/backups', 'alice', 's3cr#t']);
  });
});
