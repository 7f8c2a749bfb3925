import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seededRandom } from '../../../src/seeded-random.js';
import { toS3StorageError } from '../../../src/storage/s3/s3-errors.js';
import { S3RetryStrategy, type S3RetryErrorInfo } from '../../../src/storage/s3/s3-retry-strategy.js';

const CTX = { replica: 's3://bkt/db at http://127.0.0.1:9', bucket: 'bkt', doing: 'listing db/0000/', credentialSource: 'LITESTREAM_ACCESS_KEY_ID/LITESTREAM_SECRET_ACCESS_KEY' };

async function attemptsUntilGiveUp(s: S3RetryStrategy, info: S3RetryErrorInfo): Promise<{ attempts: number; delays: number[] }> {
  let token = await s.acquireInitialRetryToken('');
  const delays: number[] = [];
  for (;;) {
    try {
      token = await s.refreshRetryTokenForRetry(token, info);
      delays.push(token.getRetryDelay());
    } catch {
      return { attempts: token.getRetryCount() + 1, delays };
    }
  }
}

describe('S3RetryStrategy', () => {
  it('retries transient errors and throttling up to maxAttempts, never client errors', async () => {
    const s = new S3RetryStrategy({ maxAttempts: 4, random: seededRandom(1) });
    assert.equal((await attemptsUntilGiveUp(s, { errorType: 'TRANSIENT' })).attempts, 4);
    assert.equal((await attemptsUntilGiveUp(s, { errorType: 'THROTTLING' })).attempts, 4);
    assert.equal((await attemptsUntilGiveUp(s, { errorType: 'CLIENT_ERROR' })).attempts, 1);
    // 501 and other non-transient 5xx: asking again does not help either.
    assert.equal((await attemptsUntilGiveUp(s, { errorType: 'SERVER_ERROR' })).attempts, 1);
    assert.equal((await attemptsUntilGiveUp(new S3RetryStrategy({ maxAttempts: 1 }), { errorType: 'TRANSIENT' })).attempts, 1);
  });

  it('backs off exponentially with jitter, harder for throttling, within the cap', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 40 }), fc.boolean(), (seed, retry, throttled) => {
        const s = new S3RetryStrategy({ baseDelayMs: 100, throttleBaseDelayMs: 500, maxDelayMs: 10_000, random: seededRandom(seed) });
        const base = throttled ? 500 : 100;
        const ceiling = Math.min(10_000, base * 2 ** retry);
        const d = s.delayMs(retry, { errorType: throttled ? 'THROTTLING' : 'TRANSIENT' });
        assert.ok(d >= ceiling / 2 - 1 && d <= ceiling, `retry ${retry}: ${d} not in [${ceiling / 2}, ${ceiling}]`);
      }),
    );
  });

  it('waits at least as long as a Retry-After hint, up to the cap', () => {
    const now = 1_000_000;
    const s = new S3RetryStrategy({ baseDelayMs: 10, maxDelayMs: 5000, random: () => 0, now: () => now });
    assert.equal(s.delayMs(0, { errorType: 'THROTTLING', retryAfterHint: new Date(now + 3000) }), 3000);
    assert.equal(s.delayMs(0, { errorType: 'THROTTLING', retryAfterHint: new Date(now + 60_000) }), 5000);
  });
});

describe('S3 error messages', () => {
  function sdkError(name: string, status: number | undefined, message: string, extra: Record<string, unknown> = {}): Error {
    return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status, attempts: 1 }, ...extra });
  }

  it('name the replica, what was being done, and what to check, on one line', () => {
    const cases: [unknown, RegExp][] = [
      [sdkError('NoSuchBucket', 404, 'The specified bucket does not exist'), /bucket "bkt" does not exist .*check the bucket name, the endpoint and the region/],
      [sdkError('InvalidAccessKeyId', 403, 'The AWS Access Key Id you provided\ndoes not exist'), /access denied \(InvalidAccessKeyId: .*\); check the credentials \(from LITESTREAM_ACCESS_KEY_ID/],
      [sdkError('AccessDenied', 403, 'Access Denied'), /access denied/],
      [sdkError('PermanentRedirect', 301, 'wrong region'), /another region/],
      [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED', $metadata: { attempts: 5 } }), /cannot reach the S3 endpoint after 5 attempts \(ECONNREFUSED/],
      [Object.assign(new Error('getaddrinfo ENOTFOUND nope'), { code: 'ENOTFOUND' }), /cannot resolve/],
      [sdkError('SlowDown', 503, 'Please reduce your request rate.', { $metadata: { httpStatusCode: 503, attempts: 5 } }), /S3 kept failing after 5 attempts \(SlowDown/],
      [sdkError('CredentialsProviderError', undefined, 'Could not load credentials from any providers'), /no S3 credentials found/],
      [Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), /TLS certificate not accepted.*skip-verify/],
    ];
    for (const [err, re] of cases) {
      const e = toS3StorageError(err, CTX);
      assert.match(e.message, /^s3:\/\/bkt\/db at http:\/\/127\.0\.0\.1:9: listing db\/0000\/: /);
      assert.match(e.message, re);
      assert.doesNotMatch(e.message, /\n/);
      assert.equal(e.cause, err);
    }
  });
});
