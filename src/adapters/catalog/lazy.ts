/**
 * A stand-in for a store whose methods are all async (plus a sync `close`): the real one is
 * loaded, with its driver, on the first call. Commands that never touch the catalog (a restore
 * from a given repository, `--help`) then never pay for drizzle and better-sqlite3.
 */
export function lazyStore<T extends { close(): void }>(load: () => Promise<T>): T {
  let loading: Promise<T> | undefined;
  let loaded: T | undefined;
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
        const store = (await get()) as Record<PropertyKey, unknown>;
        return (store[prop] as (...a: unknown[]) => unknown).apply(store, args);
      };
    },
  });
}
