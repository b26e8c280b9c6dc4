/**
 * A stand-in for a store whose methods are all async: the real one is loaded, with its driver, on
 * the first call. Commands that never touch the catalog (a restore from a given repository,
 * `--help`) then never pay for drizzle and better-sqlite3. Its `close()` (whether or not `T`, a
 * port, declares one: see closeStore) closes the loaded store, and loads nothing.
 */
export function lazyStore<T extends object>(load: () => Promise<T & { close(): void }>): T {
  let loading: Promise<T & { close(): void }> | undefined;
  let loaded: { close(): void } | undefined;
  // A failed load (a busy or unwritable catalog) is not cached: the next call tries again.
  const get = () =>
    (loading ??= load().then(
      (store) => {
        loaded = store;
        return store;
      },
      (err: unknown) => {
        loading = undefined;
        throw err;
      },
    ));
  return new Proxy({} as T, {
    get(_target, prop) {
      if (prop === 'close') return () => loaded?.close();
      if (prop === 'then') return undefined; // not a thenable
      return async (...args: unknown[]) => {
        const store = (await get()) as unknown as Record<PropertyKey, unknown>;
        return (store[prop] as (...a: unknown[]) => unknown).apply(store, args);
      };
    },
  });
}

/**
 * Closes a catalog store's connection: ports have no `close()`, the composition root that opened
 * the store ends its lifetime. Does nothing for a store without one (an in-memory fake).
 */
export function closeStore(store: object): void {
  const { close } = store as { close?: unknown };
  if (typeof close === 'function') close.call(store);
}
