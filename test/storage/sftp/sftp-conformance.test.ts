import { after } from 'node:test';
import { FaultInjectingClient } from '../../../src/storage/fault-injecting-client.js';
import { runReplicaClientConformance } from '../conformance.js';
import { testSftpClient } from './helpers.js';
import { startSftpServer, type SftpTestServer } from './sftp-server.js';

let server: Promise<SftpTestServer> | undefined;

function sshd(): Promise<SftpTestServer> {
  server ??= startSftpServer();
  return server;
}

after(async () => {
  await (await server)?.stop();
});

// Each test gets a directory of its own on the one server.
runReplicaClientConformance('sftp (OpenSSH sshd on loopback)', async () => {
  const srv = await sshd();
  const client = testSftpClient(srv, srv.mkdir('conformance'));
  return { client, cleanup: async () => client.destroy() };
});

runReplicaClientConformance('sftp with concurrent-writes off', async () => {
  const srv = await sshd();
  const client = testSftpClient(srv, srv.mkdir('sequential'), { 'concurrent-writes': false });
  return { client, cleanup: async () => client.destroy() };
});

runReplicaClientConformance('sftp behind a FaultInjectingClient with no faults', async () => {
  const srv = await sshd();
  const inner = testSftpClient(srv, srv.mkdir('wrapped'));
  return { client: new FaultInjectingClient(inner), cleanup: async () => inner.destroy() };
});
