/**
 * Decoded pages kept in memory for time travel, bounded by their total size.
 * A Map keeps insertion order, so re-inserting on every hit makes its first
 * key the least recently used one: eviction is O(1) without a linked list.
 */
export class PageCache<K> {
  readonly #limitBytes: number;
  readonly #pages = new Map<K, Uint8Array>();
  #bytes = 0;

  /** `limitBytes` 0 keeps nothing. */
  constructor(limitBytes: number) {
    this.#limitBytes = limitBytes;
  }

  get(key: K): Uint8Array | undefined {
    const page = this.#pages.get(key);
    if (page !== undefined) {
      this.#pages.delete(key);
      this.#pages.set(key, page);
    }
    return page;
  }

  set(key: K, page: Uint8Array): void {
    const old = this.#pages.get(key);
    if (old !== undefined) {
      this.#pages.delete(key);
      this.#bytes -= old.length;
    }
    if (page.length > this.#limitBytes) return;
    this.#pages.set(key, page);
    this.#bytes += page.length;
    while (this.#bytes > this.#limitBytes) {
      const [oldest, evicted] = this.#pages.entries().next().value as [K, Uint8Array];
      this.#pages.delete(oldest);
      this.#bytes -= evicted.length;
    }
  }

  clear(): void {
    this.#pages.clear();
    this.#bytes = 0;
  }

  get size(): number {
    return this.#pages.size;
  }

  get bytes(): number {
    return this.#bytes;
  }
}
