/**
 * Finds the runnable examples in README.md.
 *
 * An example is a ```ts code fence preceded (blank lines aside) by a comment naming it:
 *
 *     <!-- example: NAME -->
 *     ```ts
 *     ...the example...
 *     ```
 *
 * The comment may instead span several lines and hold one ```ts fence of set-up, which readers do
 * not see and which is put in front of the example in the same module (sample files, the variables
 * the example leaves out):
 *
 *     <!-- example: NAME
 *     ```ts
 *     ...set-up...
 *     ```
 *     -->
 *     ```ts
 *     ...the example...
 *     ```
 *
 * Fences with no such comment are illustrations and are not run.
 */

export interface ReadmeExample {
  name: string;
  /** 1-based line of the example's opening fence in the README. */
  line: number;
  setup: string;
  code: string;
  /** The setup, then the example: the module that is run and typechecked. */
  source: string;
}

const MARKER = /^<!--\s*example:\s*([a-z0-9][a-z0-9-]*)\s*(-->)?\s*$/;

export function parseReadmeExamples(markdown: string, file = 'README.md'): ReadmeExample[] {
  const lines = markdown.split(/\r?\n/);
  const out: ReadmeExample[] = [];
  const seen = new Set<string>();
  const fail = (i: number, msg: string): never => {
    throw new Error(`${file}:${i + 1}: ${msg}`);
  };
  // Reads a ```ts fence opening at line i; returns its body and the line after the closing fence.
  const fence = (i: number, what: string): { body: string; next: number } => {
    if (lines[i]?.trim() !== '```ts') fail(i, `${what}: expected a \`\`\`ts fence, found ${JSON.stringify(lines[i] ?? '(end of file)')}`);
    const body: string[] = [];
    for (let j = i + 1; j < lines.length; j++) {
      if (lines[j]!.trim() === '```') return { body: body.join('\n') + '\n', next: j + 1 };
      body.push(lines[j]!);
    }
    return fail(i, `${what}: the fence is never closed`);
  };
  const skipBlank = (i: number): number => {
    while (i < lines.length && lines[i]!.trim() === '') i++;
    return i;
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line.startsWith('<!--') || !/^<!--\s*example\b/.test(line)) continue;
    const m = MARKER.exec(line);
    if (m === null) fail(i, `malformed example marker ${JSON.stringify(line)} (want <!-- example: NAME --> with NAME in a-z, 0-9, -)`);
    const name = m![1]!;
    if (seen.has(name)) fail(i, `example ${name} is defined twice`);
    seen.add(name);
    let setup = '';
    let at = i + 1;
    if (m![2] === undefined) {
      const s = fence(skipBlank(at), `example ${name}: set-up`);
      setup = s.body;
      at = skipBlank(s.next);
      if (lines[at]?.trim() !== '-->') fail(at, `example ${name}: the set-up comment must end with --> after its fence`);
      at++;
    }
    at = skipBlank(at);
    const c = fence(at, `example ${name}`);
    out.push({ name, line: at + 1, setup, code: c.body, source: setup + c.body });
    i = c.next - 1;
  }
  return out;
}
