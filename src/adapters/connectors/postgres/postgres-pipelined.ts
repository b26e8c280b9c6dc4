import type pg from 'pg';

interface PipelineState {
  pipeline?: boolean;
  readyForQuery?: boolean;
  _activeQuery?: unknown;
  _queryQueue?: unknown[];
  _sentQueryQueue?: unknown[];
}

/**
 * Runs `read` with the connection in the driver's pipeline mode: the queries it starts together are
 * sent at once, without a round trip (and a wake-up of each side) per query. Made for the catalog
 * reads of a dump (a few dozen independent SELECTs in one snapshot transaction): they start
 * together (see `allOf`) and the server answers them in order. The connection goes back to one
 * query at a time once every query sent meanwhile has its answer, even when `read` failed early
 * (a COPY cannot run on a pipelined connection). A connection that is busy or already pipelined
 * runs `read` as it is.
 */
export async function pipelined<T>(client: pg.Client, read: () => Promise<T>): Promise<T> {
  const c = client as unknown as PipelineState;
  const idle = () => !c._activeQuery && (c._queryQueue?.length ?? 0) === 0 && (c._sentQueryQueue?.length ?? 0) === 0;
  if (c.pipeline !== false || c.readyForQuery !== true || !idle() || !Array.isArray(c._sentQueryQueue)) return read();
  c.pipeline = true;
  try {
    return await read();
  } finally {
    // 'drain' when the last answer is in; 'end' when the connection died (the driver failed the rest).
    if (!idle()) {
      await new Promise<void>((resolve) => {
        const done = () => {
          client.off('drain', done);
          client.off('end', done);
          resolve();
        };
        client.on('drain', done);
        client.on('end', done);
      });
    }
    c.pipeline = false;
  }
}

/** An object of values from an object of promises started together (the first failure fails it, as Promise.all). */
export async function allOf<T extends object>(pending: { [K in keyof T]: Promise<T[K]> | T[K] }): Promise<T> {
  const keys = Object.keys(pending) as (keyof T)[];
  const values = await Promise.all(keys.map((k) => pending[k]));
  return Object.fromEntries(keys.map((k, i) => [k, values[i]])) as T;
}
