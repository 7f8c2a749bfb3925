import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, parseLogLevel, RetryReporter, type LogLevel } from '../../src/logger.js';

const T0 = new Date('2026-01-02T03:04:05.678Z');

function capture(level: LogLevel, format: 'text' | 'json' = 'text') {
  const lines: string[] = [];
  const logger = createLogger({ level, format, write: (l) => lines.push(l), now: () => T0 });
  return { lines, logger };
}

describe('logger', () => {
  it('writes slog-style text lines, quoting only values that need it', () => {
    const { lines, logger } = capture('info');
    logger.with({ db: 'app.db' }).info('replica sync', { txid: 10n, path: '/a b/c', empty: '', skip: undefined });
    assert.deepEqual(lines, [`time=2026-01-02T03:04:05.678Z level=INFO msg="replica sync" db=app.db txid=10 path="/a b/c" empty=""\n`]);
  });

  it('writes one JSON object per line', () => {
    const { lines, logger } = capture('debug', 'json');
    logger.debug('x', { n: 1, big: 2n ** 70n, err: new Error('boom') });
    assert.deepEqual(JSON.parse(lines[0]!), { time: T0.toISOString(), level: 'DEBUG', msg: 'x', n: 1, big: '1180591620717411303424', err: 'boom' });
  });

  it('drops lines below the level', () => {
    const { lines, logger } = capture('warn');
    logger.info('quiet');
    logger.debug('quieter');
    logger.warn('loud');
    logger.error('louder');
    assert.equal(lines.length, 2);
    assert.equal(logger.enabled('info'), false);
    assert.equal(logger.enabled('error'), true);
  });

  it('parses level names as Litestream does', () => {
    assert.equal(parseLogLevel('WARNING'), 'warn');
    assert.equal(parseLogLevel(' Debug '), 'debug');
    assert.equal(parseLogLevel('TRACE'), 'trace');
    assert.equal(parseLogLevel('verbose'), undefined);
  });

  it('reports a repeating failure at most once per interval, and the recovery once', () => {
    const { lines, logger } = capture('info');
    let now = 0;
    const rep = new RetryReporter(logger, 'sync', 30_000, () => now);
    rep.succeeded();
    assert.equal(lines.length, 0, 'no recovery without a failure');
    for (let i = 0; i < 100; i++) {
      rep.failed(new Error('disk full'));
      now += 1000;
    }
    // 100 s of failures, one a second: logged at 0 s, 30 s, 60 s, 90 s.
    assert.equal(lines.length, 4);
    assert.match(lines[3]!, /level=ERROR msg="sync failed, will retry" error="disk full" attempts=91/);
    rep.failed(new Error('something else'));
    assert.equal(lines.length, 5, 'a different error is reported at once');
    rep.succeeded();
    assert.match(lines[5]!, /level=INFO msg="sync recovered" failed_attempts=101/);
    assert.equal(rep.failures, 0);
  });
});
