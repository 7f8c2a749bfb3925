import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../../src/config/parse-config.js';
import { AgeReplicaClient } from '../../../src/storage/age/age-replica-client.js';
import { AGE_IDENTITIES_OPTION, AGE_RECIPIENTS_OPTION, hasAgeOptions, resolveAgeSettings } from '../../../src/storage/age/age-settings.js';
import { createReplicaClient } from '../../../src/storage/replica-url.js';
import { KEY_A, KEY_B } from './age-test-keys.js';

const FILE = '/etc/litestream.yml';

describe('the age block in litestream.yml', () => {
  let tmp = '';
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-age-config-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  function parse(text: string): ReturnType<typeof parseConfig> {
    return parseConfig(text, { filename: FILE, cwd: tmp, homeDir: tmp, checkDirs: false, env: {} });
  }

  function parseError(text: string): string {
    try {
      parse(text);
    } catch (err) {
      return (err as Error).message;
    }
    assert.fail('expected the config to be refused');
  }

  it("Litestream's documented encryption example loads unchanged (with real keys in place of the x's)", () => {
    const doc = [
      'dbs:',
      '  - path: /var/lib/db',
      '    replica:',
      '      url: s3://mybkt.litestream.io/db',
      '      age:',
      '        identities:',
      `          - ${KEY_A.identity}`,
      '        recipients:',
      `          - ${KEY_A.recipient}`,
      '',
    ].join('\n');
    const replica = parse(doc).dbs[0]!.replica;
    assert.equal(replica.url, 's3://mybkt.litestream.io/db');
    assert.equal(replica.options[AGE_RECIPIENTS_OPTION], KEY_A.recipient);
    assert.equal(replica.options[AGE_IDENTITIES_OPTION], KEY_A.identity);
    assert.ok(hasAgeOptions(replica.options));
    assert.ok(createReplicaClient(replica.url, replica.options) instanceof AgeReplicaClient);
  });

  it('an identity may be an identity file (as age-keygen writes it); a relative path is taken from the working directory', () => {
    writeFileSync(join(tmp, 'age-identity.txt'), `# created: 2025-01-01T00:00:00Z\n# public key: ${KEY_B.recipient}\n${KEY_B.identity}\n\n`);
    const replica = parse(
      `dbs:\n  - path: /var/lib/db\n    replica:\n      url: s3://b/db\n      age:\n        identities:\n          - age-identity.txt\n          - ${KEY_A.identity}\n        recipients:\n          - ${KEY_B.recipient}\n`,
    ).dbs[0]!.replica;
    assert.equal(replica.options[AGE_IDENTITIES_OPTION], `${join(tmp, 'age-identity.txt')},${KEY_A.identity}`);
    const settings = resolveAgeSettings('replica x', replica.options)!;
    assert.deepEqual(settings.identities, [KEY_B.identity, KEY_A.identity]);
    assert.deepEqual(settings.recipients, [KEY_B.recipient]);
  });

  it('a top-level age block applies to every replica, like any other replica setting', () => {
    const c = parse(`age:\n  recipients: [${KEY_A.recipient}]\ndbs:\n  - path: /a.db\n    replica: {path: /r/a}\n  - path: /b.db\n    replica: {url: s3://b/p}\n`);
    for (const db of c.dbs) assert.equal(db.replica.options[AGE_RECIPIENTS_OPTION], KEY_A.recipient);
  });

  it('no age block: no age options, a plain client', () => {
    const replica = parse('dbs:\n  - path: /a.db\n    replica: {path: /r/a}\n').dbs[0]!.replica;
    assert.ok(!hasAgeOptions(replica.options));
    assert.ok(!(createReplicaClient(replica.url, replica.options) instanceof AgeReplicaClient));
  });

  const base = (age: string): string => `dbs:\n  - path: /db\n    replica:\n      path: /r\n      age:\n${age}`;
  const refusals: [string, string, RegExp][] = [
    ['a recipient that is not age1…', `        recipients: [ssh-ed25519]\n`, /^\/etc\/litestream\.yml:6:21: dbs\[0\]\.replica\.age\.recipients: age recipient: "ssh-ed25519" is not an age X25519 recipient/],
    ['a recipient one character short', `        recipients: [${KEY_A.recipient.slice(0, -1)}]\n`, /age\.recipients: age recipient: "age13rlrzcac…" is not an age X25519 recipient \(age1 followed by 58 characters\)$/],
    ['a recipient with a mistyped character', `        recipients: [${KEY_A.recipient.slice(0, -1)}q]\n`, /age recipient: "age13rlrzcac…" has a bad checksum \(a mistyped character\?\)$/],
    ['an identity with a mistyped character', `        identities: [${KEY_A.identity.slice(0, -1)}Q]\n`, /age\.identities: age identity has a bad checksum \(a mistyped character\?\)$/],
    ['a post-quantum recipient', `        recipients: [age1pq1${'q'.repeat(60)}]\n`, /only X25519 recipients/],
    ['an identity where a recipient belongs', `        recipients: [${KEY_A.identity}]\n`, /an identity \(secret key\) was given where a recipient \(age1…\) belongs$/],
    ['a malformed identity', `        identities: [AGE-SECRET-KEY-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX]\n`, /age\.identities: age identity is malformed \(expected AGE-SECRET-KEY-1 followed by 58 characters\)$/],
    ['a recipient where an identity belongs', `        identities: [${KEY_A.recipient}]\n`, /a recipient \(age1…\) was given where an identity/],
    ['an identity file that does not exist', `        identities: [/nonexistent/key.txt]\n`, /age\.identities: cannot read age identity file \/nonexistent\/key\.txt \(ENOENT\)$/],
    ['an unknown key in the age block', `        recipient: [${KEY_A.recipient}]\n`, /age\.recipient: unknown key/],
  ];
  for (const [name, age, re] of refusals) {
    it(`refuses ${name} in one line, without repeating a secret key`, () => {
      const message = parseError(base(age));
      assert.match(message, re);
      assert.equal(message.split('\n').length, 1);
      for (const k of [KEY_A, KEY_B]) assert.ok(!message.includes(k.identity), message);
    });
  }

  it('refuses an identity file holding something other than identities, naming the line', () => {
    const bad = join(tmp, 'bad-identity.txt');
    writeFileSync(bad, `# a comment\n${KEY_A.identity}\n${KEY_A.recipient}\n`);
    const message = parseError(base(`        identities: [${bad}]\n`));
    assert.match(message, new RegExp(`age identity file ${bad}, line 3: not an X25519 identity`));
    assert.ok(!message.includes(KEY_A.identity));
    const empty = join(tmp, 'empty-identity.txt');
    writeFileSync(empty, '# nothing here\n');
    assert.match(parseError(base(`        identities: [${empty}]\n`)), /holds no identity$/);
  });

  it('a bad recipient given straight to createReplicaClient is refused too, before any data moves', () => {
    assert.throws(() => createReplicaClient('/r', { [AGE_RECIPIENTS_OPTION]: 'age1short' }), /^AgeKeyError: replica "?\/r"?: age recipient: "age1short" is not/);
  });
});
