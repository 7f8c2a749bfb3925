import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { identityToRecipient } from 'age-encryption';
import { LOCAL_AGE_IDENTITY_FILE, localAgeIdentity, withLocalAgeIdentity } from '../../../src/storage/age/age-local-identity.js';
import { AGE_IDENTITIES_OPTION, AGE_RECIPIENTS_OPTION, MAX_AGE_RECIPIENTS, checkAgeRecipient, readAgeIdentities } from '../../../src/storage/age/age-settings.js';
import { bech32ChecksumOk } from '../../../src/storage/age/bech32.js';
import { KEY_A, KEY_B, KEY_C } from './age-test-keys.js';

describe("the replicator's own age identity", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tidemark-age-local-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('is made once in the meta directory, readable by its owner only, and is a real age key pair', async () => {
    const meta = join(dir, 'meta-a');
    const first = localAgeIdentity(meta);
    const st = await stat(join(meta, LOCAL_AGE_IDENTITY_FILE));
    assert.equal(st.mode & 0o777, 0o600);
    assert.deepEqual(localAgeIdentity(meta), first, 'the same key on every start');
    assert.equal(await identityToRecipient(first.identity), first.recipient, 'the recipient is the identity’s public key');
    assert.equal(checkAgeRecipient(first.recipient), undefined);
    assert.deepEqual(readAgeIdentities(join(meta, LOCAL_AGE_IDENTITY_FILE)), [first.identity]);
    assert.notDeepEqual(localAgeIdentity(join(dir, 'meta-b')), first, 'each database has its own');
  });

  it('is added only for a replica that has recipients and no identities', () => {
    const meta = join(dir, 'meta-c');
    const plain = { endpoint: 'x' };
    assert.equal(withLocalAgeIdentity(plain, meta), plain);
    const both = { [AGE_RECIPIENTS_OPTION]: KEY_A.recipient, [AGE_IDENTITIES_OPTION]: KEY_A.identity };
    assert.equal(withLocalAgeIdentity(both, meta), both);
    const readOnly = { [AGE_IDENTITIES_OPTION]: KEY_A.identity };
    assert.equal(withLocalAgeIdentity(readOnly, meta), readOnly);
    const local = localAgeIdentity(meta);
    assert.deepEqual(withLocalAgeIdentity({ [AGE_RECIPIENTS_OPTION]: KEY_A.recipient }, meta), {
      [AGE_RECIPIENTS_OPTION]: `${KEY_A.recipient},${local.recipient}`,
      [AGE_IDENTITIES_OPTION]: local.identity,
    });
  });

  it('leaves room for itself: recipients only, at most one fewer than the header holds', () => {
    const many = Array.from({ length: MAX_AGE_RECIPIENTS }, (_, i) => [KEY_A, KEY_B, KEY_C][i % 3]!.recipient);
    // Duplicates count once, as they are encrypted to once.
    assert.doesNotThrow(() => withLocalAgeIdentity({ [AGE_RECIPIENTS_OPTION]: many.join(',') }, join(dir, 'meta-d')));
    const distinct = Array.from({ length: MAX_AGE_RECIPIENTS }, () => localAgeIdentity(join(dir, `m-${Math.random()}`)).recipient);
    assert.throws(() => withLocalAgeIdentity({ [AGE_RECIPIENTS_OPTION]: distinct.join(',') }, join(dir, 'meta-e')), {
      name: 'AgeKeyError',
      message: new RegExp(`at most ${MAX_AGE_RECIPIENTS - 1} of them \\(got ${MAX_AGE_RECIPIENTS}\\)`),
    });
  });

  it('bech32 checksums catch any single changed character of a key', () => {
    for (const key of [KEY_A.identity, KEY_A.recipient]) {
      assert.ok(bech32ChecksumOk(key));
      for (let i = key.indexOf('1') + 1; i < key.length; i += 7) {
        const c = key[i] === 'q' || key[i] === 'Q' ? 'p' : 'q';
        const typo = key.slice(0, i) + (key === KEY_A.identity ? c.toUpperCase() : c) + key.slice(i + 1);
        assert.ok(!bech32ChecksumOk(typo), `${i}`);
      }
    }
  });
});
