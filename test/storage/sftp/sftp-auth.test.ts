import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../../../src/logger.js';
import { isPermanentError } from '../../../src/storage/permanent-error.js';
import { SftpAuthenticationError, SftpHostKeyMismatchError, SftpStorageError } from '../../../src/storage/sftp/sftp-errors.js';
import { chunked, collect, makeLtxFile } from '../ltx-fixtures.js';
import { testSftpClient } from './helpers.js';
import { freePort, makeKeyPair, makePasswordUser, startSftpServer, type PasswordUser, type SftpTestServer } from './sftp-server.js';
import { TcpFaultProxy } from './tcp-fault-proxy.js';

const T0 = Date.UTC(2024, 4, 5, 6, 7, 8, 9);

let srv: SftpTestServer;
let proxy: TcpFaultProxy;
/** A throwaway login with a known password, made with useradd, or undefined where that is not possible. */
let pwUser: PasswordUser | undefined;

before(async () => {
  srv = await startSftpServer();
  proxy = await TcpFaultProxy.start(srv.port);
  pwUser = makePasswordUser(srv.dir);
});

after(async () => {
  pwUser?.remove();
  await proxy.close();
  await srv.stop();
});

async function roundTrip(client: ReturnType<typeof testSftpClient>): Promise<void> {
  const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0 });
  await client.writeLtxFile(0, 1n, 1n, chunked(bytes, 1000));
  assert.deepEqual(await collect(await client.openLtxFile(0, 1n, 1n)), bytes);
}

function permanentFailure(cls: typeof SftpStorageError, re: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof cls, `${String(err)} is a ${cls.name}`);
    assert.ok(isPermanentError(err), 'permanent');
    assert.match(err.message, re);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  };
}

describe('SFTP host keys', () => {
  it('the pinned host key connects', async () => {
    const client = testSftpClient(srv, srv.mkdir('pinned'));
    try {
      await client.init();
      await roundTrip(client);
    } finally {
      client.destroy();
    }
  });

  it('another host key is refused with one permanent error naming the host, after a single connection', async () => {
    const wrong = makeKeyPair(srv.dir, `other_host_${randomBytes(2).toString('hex')}`);
    const client = testSftpClient(srv, srv.mkdir('wrong-host-key'), { 'host-key': wrong.publicLine }, {}, proxy.port);
    proxy.resetCounts();
    try {
      await assert.rejects(
        client.init(),
        permanentFailure(SftpHostKeyMismatchError, new RegExp(`the host key of 127\\.0\\.0\\.1:${proxy.port} \\(SHA256:[A-Za-z0-9+/]+\\) is not the one host-key pins`)),
      );
      assert.equal(proxy.connections, 1, 'not retried');
    } finally {
      client.destroy();
    }
  });

  it('without host-key the server is accepted, with one warning per server giving its fingerprint', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', write: (l) => lines.push(l) });
    const dir = srv.mkdir('unpinned');
    const a = testSftpClient(srv, dir, { 'host-key': undefined }, { logger });
    const b = testSftpClient(srv, dir, { 'host-key': undefined }, { logger });
    try {
      await a.init();
      await b.init();
      await roundTrip(a);
      assert.equal(lines.length, 1, lines.join(''));
      assert.match(lines[0]!, new RegExp(`level=WARN msg="sftp host key not verified: set host-key to pin it" host=127\\.0\\.0\\.1:${srv.port} key=SHA256:`));
    } finally {
      a.destroy();
      b.destroy();
    }
  });
});

describe('SFTP authentication', () => {
  it('a key the server accepts logs in', async () => {
    const client = testSftpClient(srv, srv.mkdir('key-auth'));
    try {
      await roundTrip(client);
    } finally {
      client.destroy();
    }
  });

  it('a key the server does not know is one permanent error naming the user and the key, after a single connection', async () => {
    const stranger = makeKeyPair(srv.dir, `stranger_${randomBytes(2).toString('hex')}`);
    const client = testSftpClient(srv, srv.mkdir('wrong-key'), { 'key-path': stranger.privatePath }, {}, proxy.port);
    proxy.resetCounts();
    try {
      await assert.rejects(
        client.init(),
        permanentFailure(SftpAuthenticationError, new RegExp(`authentication as ${srv.user} on 127\\.0\\.0\\.1:${proxy.port} failed \\(tried key-path ${stranger.privatePath}\\)`)),
      );
      assert.equal(proxy.connections, 1, 'not retried');
    } finally {
      client.destroy();
    }
  });

  it('password authentication: the right password logs in, a wrong one is one permanent error', async () => {
    const dir = join(pwUser?.home ?? srv.dir, 'pw');
    if (pwUser !== undefined) {
      const ok = testSftpClient({ ...srv, user: pwUser.name }, dir, { password: pwUser.password, 'key-path': undefined });
      try {
        await roundTrip(ok);
        const files = readdirSync(join(dir, 'ltx', '0'));
        assert.deepEqual(files, ['0000000000000001-0000000000000001.ltx']);
        assert.equal(statSync(join(dir, 'ltx', '0', files[0]!)).uid, Number(spawnSync('id', ['-u', pwUser.name], { encoding: 'utf8' }).stdout.trim()));
      } finally {
        ok.destroy();
      }
    }
    const user = pwUser?.name ?? srv.user;
    const bad = testSftpClient({ ...srv, user }, dir, { password: 'not-the-password', 'key-path': undefined });
    try {
      await assert.rejects(bad.init(), permanentFailure(SftpAuthenticationError, new RegExp(`authentication as ${user} on 127\\.0\\.0\\.1:${srv.port} failed \\(tried password\\)`)));
    } finally {
      bad.destroy();
    }
    assert.ok(pwUser !== undefined, 'useradd could make a throwaway user, so the accepted password was tested too');
  });

  it('an unreachable host is a transient error after the allowed attempts', async () => {
    const port = await freePort();
    const client = testSftpClient(srv, '/tmp', {}, { maxAttempts: 3 }, port);
    try {
      await assert.rejects(client.init(), (err: unknown) => {
        assert.ok(err instanceof SftpStorageError);
        assert.equal(isPermanentError(err), false);
        assert.match(err.message, new RegExp(`^sftp://${srv.user}@127\\.0\\.0\\.1:${port}//tmp: opening /tmp: cannot reach the SFTP server after 3 attempts \\(ECONNREFUSED`));
        return true;
      });
    } finally {
      client.destroy();
    }
  });
});
