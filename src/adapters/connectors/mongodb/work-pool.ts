/**
 * Runs `work` over `items` with at most `limit` at once. On the first failure no new item starts,
 * `stop` is aborted so running ones can end early, and that first error is thrown once all settled.
 */
export async function runPool<T>(items: T[], limit: number, work: (item: T, stop: AbortSignal) => Promise<void>, signal?: AbortSignal): Promise<void> {
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && !stop.signal.aborted && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item, stop.signal);
      } catch (error) {
        failure ??= { error };
        stop.abort(error);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (failure) throw failure.error;
  signal?.throwIfAborted();
}
