/**
 * Hands out child abort signals that follow a caller's signal while putting a
 * single listener on it, however many requests and streams hang off it. A
 * restore shares one signal across every file it streams, a metadata listing
 * runs dozens of HEAD requests at once, and Node warns (on stderr) once an
 * AbortSignal has more than ten listeners.
 */
export class AbortFanout {
  readonly #children = new Map<AbortSignal, { controllers: Set<AbortController>; listener: () => void }>();

  /** A signal that aborts with `parent`; call release() when done with it. Undefined in, undefined out. */
  child(parent: AbortSignal | undefined): { signal: AbortSignal | undefined; release: () => void } {
    if (parent === undefined) return { signal: undefined, release: () => undefined };
    const ac = new AbortController();
    if (parent.aborted) {
      ac.abort(parent.reason);
      return { signal: ac.signal, release: () => undefined };
    }
    let entry = this.#children.get(parent);
    if (entry === undefined) {
      const controllers = new Set<AbortController>();
      const listener = (): void => {
        this.#children.delete(parent);
        for (const c of controllers) c.abort(parent.reason);
      };
      entry = { controllers, listener };
      this.#children.set(parent, entry);
      parent.addEventListener('abort', listener, { once: true });
    }
    const e = entry;
    e.controllers.add(ac);
    let released = false;
    return {
      signal: ac.signal,
      release: () => {
        if (released) return;
        released = true;
        e.controllers.delete(ac);
        if (e.controllers.size === 0 && this.#children.get(parent) === e) {
          this.#children.delete(parent);
          parent.removeEventListener('abort', e.listener);
        }
      },
    };
  }
}
