import { isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml';
import { byteSizeOrThrow, durationOrThrow } from './value-parsers.js';
import { ConfigError, ValueSyntaxError, type ConfigLocation } from './errors.js';
import type { ExpandedText } from './env-expand.js';
import { suggestKey, type KeyElsewhere } from './key-suggestion.js';

/**
 * The parsed YAML of one configuration file, read key by key with the types
 * litestream.yml gives them. Every node keeps its position in the file as
 * written (before environment expansion), so each error names file, line,
 * column and key path. Scalars are read from their text, as Go's yaml.v2 does
 * for Litestream: YAML 1.1 booleans (`yes`, `on`), octal `0600`, and any
 * scalar where a string is expected.
 */

/** `~`, `null` and an empty plain value mean "not set". */
const NULL_RE = /^(?:~|null|Null|NULL|)$/;
const TRUE_RE = /^(?:y|Y|yes|Yes|YES|true|True|TRUE|on|On|ON)$/;
const FALSE_RE = /^(?:n|N|no|No|NO|false|False|FALSE|off|Off|OFF)$/;
/** Go strconv.ParseInt with base 0 (decimal, 0x hex, 0b binary, 0o or leading-0 octal). */
const INT_RE = /^[-+]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO]?[0-7]+|[1-9][0-9]*|0)$/;

export type ValueNode = Scalar | YAMLMap | YAMLSeq;

export interface Entry {
  readonly key: string;
  readonly keyNode: Node;
  /** undefined when the value is null or missing. */
  readonly value: ValueNode | undefined;
}

export class ConfigSource {
  readonly #lineStarts: number[] = [0];
  readonly #doc: Document;

  constructor(
    readonly file: string,
    readonly original: string,
    readonly expanded: ExpandedText,
  ) {
    for (let i = 0; i < original.length; i++) if (original.charCodeAt(i) === 10) this.#lineStarts.push(i + 1);
    // The failsafe schema leaves every scalar as its text; types are decided per key below.
    this.#doc = parseDocument(expanded.text, { schema: 'failsafe', uniqueKeys: true, prettyErrors: false });
    const err = this.#doc.errors[0];
    if (err !== undefined) {
      const reason =
        err.code === 'DUPLICATE_KEY'
          ? 'duplicate key (a key may appear only once in a mapping)'
          : err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      throw new ConfigError(this.locationAt(err.pos[0], ''), `invalid YAML: ${reason}`, { cause: err });
    }
  }

  /** The document's top-level node; undefined for an empty file. */
  root(): ValueNode | undefined {
    return this.deref(this.#doc.contents as Node | null);
  }

  /** Follows aliases; a null scalar becomes undefined. */
  deref(node: Node | null | undefined): ValueNode | undefined {
    let n: Node | null | undefined = node;
    for (let hops = 0; n != null && isAlias(n); hops++) {
      if (hops > 100) throw this.error(n, '', 'alias cycle');
      n = n.resolve(this.#doc);
    }
    if (n == null) return undefined;
    if (isScalar(n) && isNullScalar(n)) return undefined;
    if (isScalar(n) || isMap(n) || isSeq(n)) return n;
    return undefined;
  }

  locationAt(expandedOffset: number, keyPath: string): ConfigLocation {
    const offset = this.expanded.toSourceOffset(expandedOffset);
    let lo = 0;
    let hi = this.#lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { file: this.file, line: lo + 1, column: offset - this.#lineStarts[lo]! + 1, keyPath };
  }

  location(node: Node | undefined, keyPath: string): ConfigLocation {
    const start = node?.range?.[0];
    return start === undefined ? { file: this.file, keyPath } : this.locationAt(start, keyPath);
  }

  error(node: Node | undefined, keyPath: string, reason: string, cause?: unknown): ConfigError {
    return new ConfigError(this.location(node, keyPath), reason, cause === undefined ? undefined : { cause });
  }

  /**
   * The entries of a mapping in document order, with YAML merge keys
   * (`<<: *defaults`) applied: keys written in the mapping win over merged ones.
   */
  entries(map: YAMLMap, keyPath: string): Map<string, Entry> {
    const out = new Map<string, Entry>();
    const merges: Node[] = [];
    for (const pair of map.items) {
      const keyNode = pair.key as Node | null;
      const k = this.deref(keyNode);
      if (k === undefined || !isScalar(k)) throw this.error(keyNode ?? map, keyPath, 'mapping keys must be plain names');
      const key = String(k.value);
      if (key === '<<' && k.type === 'PLAIN') {
        merges.push(pair.value as Node);
        continue;
      }
      out.set(key, { key, keyNode: k, value: this.deref(pair.value as Node | null) });
    }
    for (const m of merges) {
      const target = this.deref(m);
      const sources = target !== undefined && isSeq(target) ? target.items.map((i) => this.deref(i as Node)) : [target];
      for (const src of sources) {
        if (src === undefined || !isMap(src)) throw this.error(m, keyPath, 'a merge key (<<) must refer to a mapping');
        for (const [key, entry] of this.entries(src, keyPath)) if (!out.has(key)) out.set(key, entry);
      }
    }
    return out;
  }
}

function isNullScalar(n: Scalar): boolean {
  return n.type === 'PLAIN' && NULL_RE.test(String(n.value));
}

const join = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);

/** Describes a node's YAML kind for "expected X, got Y" messages. */
function kindOf(n: ValueNode): string {
  if (isMap(n)) return 'a mapping';
  if (isSeq(n)) return 'a list';
  return `${JSON.stringify(String(n.value))}`;
}

/**
 * One mapping of the file, read with a fixed set of keys. Unknown keys are
 * rejected when the section is opened, before any value is looked at.
 */
export class Section {
  readonly #entries: Map<string, Entry>;

  constructor(
    readonly src: ConfigSource,
    readonly node: YAMLMap,
    readonly keyPath: string,
    known: readonly string[],
    elsewhere: readonly KeyElsewhere[] = [],
  ) {
    this.#entries = src.entries(node, keyPath);
    for (const entry of this.#entries.values()) {
      if (!known.includes(entry.key)) {
        const hint = suggestKey(entry.key, known, elsewhere);
        throw src.error(entry.keyNode, join(keyPath, entry.key), `unknown key${hint}`);
      }
    }
  }

  /** Opens a mapping value as a section; `node` may be any value node. */
  static open(
    src: ConfigSource,
    node: ValueNode,
    keyPath: string,
    known: readonly string[],
    elsewhere: readonly KeyElsewhere[] = [],
  ): Section {
    if (!isMap(node)) throw src.error(node, keyPath, `expected a mapping, got ${kindOf(node)}`);
    return new Section(src, node, keyPath, known, elsewhere);
  }

  pathOf(key: string): string {
    return join(this.keyPath, key);
  }

  /** Whether the key is written with a non-null value. */
  has(key: string): boolean {
    return this.#entries.get(key)?.value !== undefined;
  }

  /** Whether the key is written at all, even as null. */
  written(key: string): boolean {
    return this.#entries.has(key);
  }

  entry(key: string): Entry | undefined {
    return this.#entries.get(key);
  }

  /** Location of the key's value (or of the key itself when the value is null). */
  locationOf(key: string): ConfigLocation {
    const e = this.#entries.get(key);
    return this.src.location(e?.value ?? e?.keyNode ?? this.node, this.pathOf(key));
  }

  /** Location of the key itself, for messages about the key rather than its value. */
  keyLocationOf(key: string): ConfigLocation {
    return this.src.location(this.#entries.get(key)?.keyNode ?? this.node, this.pathOf(key));
  }

  errorAt(key: string, reason: string, cause?: unknown): ConfigError {
    const e = this.#entries.get(key);
    return this.src.error(e?.value ?? e?.keyNode ?? this.node, this.pathOf(key), reason, cause);
  }

  /** Error located at the section itself. */
  error(reason: string): ConfigError {
    return this.src.error(this.node, this.keyPath, reason);
  }

  #scalar(key: string, expected: string): Scalar | undefined {
    const v = this.#entries.get(key)?.value;
    if (v === undefined) return undefined;
    if (!isScalar(v)) throw this.src.error(v, this.pathOf(key), `expected ${expected}, got ${kindOf(v)}`);
    return v;
  }

  string(key: string): string | undefined {
    const v = this.#scalar(key, 'a string');
    return v === undefined ? undefined : String(v.value);
  }

  bool(key: string): boolean | undefined {
    const v = this.#scalar(key, 'true or false');
    if (v === undefined) return undefined;
    const s = String(v.value);
    if (v.type === 'PLAIN' && TRUE_RE.test(s)) return true;
    if (v.type === 'PLAIN' && FALSE_RE.test(s)) return false;
    throw this.src.error(v, this.pathOf(key), `expected true or false, got ${JSON.stringify(s)}`);
  }

  int(key: string): number | undefined {
    const v = this.#scalar(key, 'an integer');
    if (v === undefined) return undefined;
    const s = String(v.value);
    if (v.type !== 'PLAIN' || !INT_RE.test(s)) {
      throw this.src.error(v, this.pathOf(key), `expected an integer, got ${JSON.stringify(s)}`);
    }
    const neg = s.startsWith('-');
    const body = s.replace(/^[-+]/, '');
    const n = /^0[0-7]+$/.test(body) ? Number.parseInt(body.slice(1), 8) : Number(body.replace(/^0[oO]/, '0o'));
    const value = neg ? -n : n;
    if (!Number.isSafeInteger(value)) throw this.src.error(v, this.pathOf(key), `integer ${s} is out of range`);
    return value;
  }

  /** A Go duration in nanoseconds. A bare `0` is zero; other bare numbers need a unit. */
  duration(key: string): bigint | undefined {
    const v = this.#scalar(key, 'a duration');
    if (v === undefined) return undefined;
    try {
      return durationOrThrow(String(v.value));
    } catch (err) {
      if (err instanceof ValueSyntaxError) throw this.src.error(v, this.pathOf(key), err.message, err);
      throw err;
    }
  }

  size(key: string): number | undefined {
    const v = this.#scalar(key, 'a size');
    if (v === undefined) return undefined;
    try {
      return byteSizeOrThrow(String(v.value));
    } catch (err) {
      if (err instanceof ValueSyntaxError) throw this.src.error(v, this.pathOf(key), err.message, err);
      throw err;
    }
  }

  /** A list of strings; a single string is not accepted as a list, as in Litestream. */
  stringList(key: string): string[] | undefined {
    const v = this.#entries.get(key)?.value;
    if (v === undefined) return undefined;
    if (!isSeq(v)) throw this.src.error(v, this.pathOf(key), `expected a list of strings, got ${kindOf(v)}`);
    return v.items.map((item, i) => {
      const n = this.src.deref(item as Node);
      const path = `${this.pathOf(key)}[${i}]`;
      if (n === undefined || !isScalar(n)) {
        throw this.src.error(n ?? v, path, `expected a string, got ${n === undefined ? 'null' : kindOf(n)}`);
      }
      return String(n.value);
    });
  }

  /** A nested mapping as a section, or undefined when the key is absent or null. */
  section(key: string, known: readonly string[], elsewhere: readonly KeyElsewhere[] = []): Section | undefined {
    const v = this.#entries.get(key)?.value;
    return v === undefined ? undefined : Section.open(this.src, v, this.pathOf(key), known, elsewhere);
  }

  /** The items of a list value (aliases followed; null items kept as undefined), or undefined when absent or null. */
  list(key: string): Array<{ node: ValueNode | undefined; raw: Node; keyPath: string }> | undefined {
    const v = this.#entries.get(key)?.value;
    if (v === undefined) return undefined;
    if (!isSeq(v)) throw this.src.error(v, this.pathOf(key), `expected a list, got ${kindOf(v)}`);
    return v.items.map((item, i) => ({
      node: this.src.deref(item as Node),
      raw: (item as Node | null) ?? v,
      keyPath: `${this.pathOf(key)}[${i}]`,
    }));
  }
}
