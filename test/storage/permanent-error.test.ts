// isPermanentError: which failures a retry cannot fix (a one-shot run ends at
// once) and which may clear up by themselves (retried); anything unknown is
// transient.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isPermanentError } from '../../src/storage/permanent-error.js';
import { ReplicaConflictError, ReplicatorLockedError } from '../../src/replication/errors.js';
import { toS3StorageError } from '../../src/storage/s3/s3-errors.js';
import { withTempDir } from '../replication/helpers.js';

/** An error as Node's fs reports it: a message and an errno code. */
function errno(code: string): Error {
  return Object.assign(new Error(`${code}: something failed`), { code, errno: -1, syscall: 'open' });
}

/** An error shaped as the AWS SDK v3 throws for an S3 response. */
function s3(name: string, httpStatusCode: number | undefined): Error {
  return Object.assign(new Error(name), { name, Code: name, $fault: 'client', $metadata: { httpStatusCode } });
}

/** The wrapping every S3ReplicaClient failure goes through before anything judges it. */
function wrapped(err: unknown): Error {
  return toS3StorageError(err, { replica: 's3://bucket/db', bucket: 'bucket', doing: 'writing a file', credentialSource: 'the environment' });
}

/** Wraps `inner` in `depth` layers of `cause`. */
function nested(inner: unknown, depth: number): unknown {
  let e = inner;
  for (let i = 0; i < depth; i++) e = new Error(`layer ${i}`, { cause: e });
  return e;
}

const PERMANENT: [string, unknown][] = [
  ...['EROFS', 'EACCES', 'EPERM', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'ELOOP'].map((c): [string, unknown] => [`errno ${c}`, errno(c)]),
  ...['AccessDenied', 'AllAccessDisabled', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'NoSuchBucket', 'InvalidBucketName', 'AccountProblem', 'ExpiredToken', 'InvalidToken', 'PermanentRedirect', 'AuthorizationHeaderMalformed'].map(
    (c): [string, unknown] => [`code ${c}`, { code: c }],
  ),
  ['status 400', { status: 400 }],
  ['status 401', { status: 401 }],
  ['status 403', { status: 403 }],
  ['status 404', { status: 404 }],
  ['status 499', { status: 499 }],
  ['statusCode 403', { statusCode: 403 }],
  ['$metadata.httpStatusCode 403', { $metadata: { httpStatusCode: 403 } }],
  ['S3 AccessDenied via $metadata', s3('AccessDenied', 403)],
  ['S3 NoSuchBucket via $metadata', s3('NoSuchBucket', 404)],
  ['S3 error with a 400 status and an unknown name', s3('InvalidArgument', 400)],
  ['S3 PermanentRedirect (HTTP 301), wrapped as S3StorageError', wrapped(s3('PermanentRedirect', 301))],
  ['S3 AccessDenied (403), wrapped as S3StorageError', wrapped(s3('AccessDenied', 403))],
  ['S3 NoSuchBucket (404), wrapped as S3StorageError', wrapped(s3('NoSuchBucket', 404))],
  ['S3 ExpiredToken without a status, wrapped as S3StorageError', wrapped(s3('ExpiredToken', undefined))],
  // The AWS SDK v3 puts the S3 error code in `Code` (and `name`), not `code`; 301 is no 4xx to fall back on.
  ['raw SDK error: Code PermanentRedirect with HTTP 301', s3('PermanentRedirect', 301)],
  ['raw SDK-shaped error: Code AccessDenied and no status', { Code: 'AccessDenied' }],
  ['permanent: true', { permanent: true }],
  ['ReplicatorLockedError (permanent = true)', new ReplicatorLockedError('locked')],
  ['ReplicaConflictError (permanent = true)', new ReplicaConflictError('conflict')],
  ['EROFS one cause down', nested(errno('EROFS'), 1)],
  ['AccessDenied five causes down', nested({ code: 'AccessDenied' }, 5)],
  ['403 seven causes down (the deepest followed)', nested({ status: 403 }, 7)],
  ['a transient outer error wrapping a permanent one', Object.assign(new Error('outer'), { code: 'ECONNRESET', status: 503, cause: errno('EACCES') })],
];

const TRANSIENT: [string, unknown][] = [
  ...['ENOSPC', 'ECONNRESET', 'ETIMEDOUT', 'ECONNREFUSED', 'EAI_AGAIN', 'EPIPE', 'ENOENT', 'EBUSY', 'EIO'].map((c): [string, unknown] => [`errno ${c}`, errno(c)]),
  ['status 408 (timeout)', { status: 408 }],
  ['status 425 (too early)', { status: 425 }],
  ['status 429 (throttled)', { status: 429 }],
  ['statusCode 429', { statusCode: 429 }],
  ['$metadata.httpStatusCode 408', { $metadata: { httpStatusCode: 408 } }],
  ...[500, 502, 503, 504, 599].map((s): [string, unknown] => [`status ${s}`, { status: s }]),
  ['S3 SlowDown 503', s3('SlowDown', 503)],
  ['S3 InternalError 500', s3('InternalError', 500)],
  ['S3 RequestTimeout 408', s3('RequestTimeout', 408)],
  ['S3 error without a status', s3('NetworkingError', undefined)],
  ['S3 SlowDown 503, wrapped as S3StorageError', wrapped(s3('SlowDown', 503))],
  ['a connection refused, wrapped as S3StorageError', wrapped(errno('ECONNREFUSED'))],
  ['raw SDK-shaped error: Code SlowDown and no status', { Code: 'SlowDown' }],
  ['status 3xx', { status: 301 }],
  ['status as a string is not a status', { status: '403' }],
  ['a code that is not a string', { code: 403 }],
  ['permanent: "yes" (only true counts)', { permanent: 'yes' }],
  ['a plain Error', new Error('boom')],
  ['an unknown code', { code: 'ESOMETHINGNEW' }],
  ['undefined', undefined],
  ['null', null],
  ['a string', 'EROFS'],
  ['a number', 403],
  ['an empty object', {}],
  ['503 wrapping 503', nested({ status: 503 }, 3)],
  ['a permanent cause past the depth followed', nested(errno('EROFS'), 8)],
];

describe('isPermanentError', () => {
  for (const [what, err] of PERMANENT) {
    it(`permanent: ${what}`, () => {
      assert.equal(isPermanentError(err), true);
    });
  }
  for (const [what, err] of TRANSIENT) {
    it(`transient: ${what}`, () => {
      assert.equal(isPermanentError(err), false);
    });
  }

  it('a cause cycle ends', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    assert.equal(isPermanentError(a), false);
  });

  it("the first status found is the one judged: status before statusCode before $metadata", () => {
    assert.equal(isPermanentError({ status: 503, statusCode: 403 }), false);
    assert.equal(isPermanentError({ statusCode: 429, $metadata: { httpStatusCode: 403 } }), false);
    assert.equal(isPermanentError({ status: 'x', statusCode: 403 }), true, 'a non-number status is skipped');
  });

  it("real file system errors: EISDIR and ENOTDIR are permanent, ENOENT is not", async () => {
    await withTempDir(async (dir) => {
      const sub = join(dir, 'sub');
      await mkdir(sub);
      const asFile = await open(sub, 'w').then(
        () => assert.fail('opening a directory for writing succeeded'),
        (e: unknown) => e,
      );
      assert.equal((asFile as { code?: string }).code, 'EISDIR');
      assert.equal(isPermanentError(asFile), true);
      const f = join(dir, 'file');
      await (await open(f, 'w')).close();
      const under = await open(join(f, 'x'), 'r').catch((e: unknown) => e);
      assert.equal((under as { code?: string }).code, 'ENOTDIR');
      assert.equal(isPermanentError(under), true);
      await rm(f);
      const missing = await open(f, 'r').catch((e: unknown) => e);
      assert.equal((missing as { code?: string }).code, 'ENOENT');
      assert.equal(isPermanentError(missing), false);
    });
  });
});
