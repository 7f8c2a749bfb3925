import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseReadmeExamples } from './readme-examples.js';

describe('parseReadmeExamples', () => {
  it('takes the ts fence after a marker, with the set-up from a marker comment put in front, and ignores unmarked fences', () => {
    const md = [
      '# x', // 1
      '```ts', // 2
      'illustration();', // 3
      '```', // 4
      '<!-- example: plain -->', // 5
      '', // 6
      '```ts', // 7
      'plain();', // 8
      '```', // 9
      '<!-- example: with-setup', // 10
      '```ts', // 11
      'const v = 1;', // 12
      '```', // 13
      '-->', // 14
      '```ts', // 15
      'use(v);', // 16
      '```', // 17
    ].join('\n');
    const got = parseReadmeExamples(md);
    assert.deepEqual(
      got.map((e) => [e.name, e.line, e.setup, e.code, e.source]),
      [
        ['plain', 7, '', 'plain();\n', 'plain();\n'],
        ['with-setup', 15, 'const v = 1;\n', 'use(v);\n', 'const v = 1;\nuse(v);\n'],
      ],
    );
  });

  it('refuses a marker with no ts fence after it, an unclosed set-up, a bad name and a name used twice', () => {
    assert.throws(() => parseReadmeExamples('<!-- example: a -->\n```sh\nls\n```\n'), /README\.md:2: example a: expected a ```ts fence/);
    assert.throws(() => parseReadmeExamples('<!-- example: a\n```ts\nx\n```\n```ts\ny\n```\n'), /README\.md:5: example a: the set-up comment must end with -->/);
    assert.throws(() => parseReadmeExamples('<!-- example: Bad Name -->\n```ts\nx\n```\n'), /README\.md:1: malformed example marker/);
    assert.throws(() => parseReadmeExamples('<!-- example: a -->\n```ts\nx\n```\n<!-- example: a -->\n```ts\ny\n```\n'), /README\.md:5: example a is defined twice/);
    assert.throws(() => parseReadmeExamples('<!-- example: a -->\n```ts\nx\n'), /README\.md:2: example a: the fence is never closed/);
  });
});
