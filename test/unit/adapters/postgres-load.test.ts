import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { postDataTasks, runTasks, statementTask } from '../../../src/adapters/connectors/postgres/postgres-load.js';
import { sortByLevel } from '../../../src/adapters/connectors/postgres/postgres-restore.js';
import type { TocItem } from '../../../src/adapters/connectors/postgres/postgres-toc.js';

/** A connection whose statements take `ms` and are logged with what else was running meanwhile. */
function clients(n: number, ms = 20) {
  const running = new Set<string>();
  const overlaps: string[][] = [];
  const order: string[] = [];
  const make = () =>
    ({
      async query(sql: string) {
        running.add(sql);
        order.push(sql);
        overlaps.push([...running].sort());
        await new Promise((r) => setTimeout(r, ms));
        running.delete(sql);
        return { rows: [] };
      },
    }) as unknown as pg.Client;
  return { pool: Array.from({ length: n }, make), overlaps, order };
}

let next = 1;
const item = (kind: TocItem['kind'], sql: string, tables: string[], deps: number[] = []): TocItem => ({
  id: next++,
  kind,
  section: 'post-data',
  schema: 'public',
  name: sql,
  tables,
  deps,
  sql,
});

describe('restore task scheduling (locks like pg_restore -j)', () => {
  it('builds the keys of sibling partitions side by side, but never beside a foreign key on their root', async () => {
    const { pool, overlaps } = clients(3);
    const pk1 = item('constraint', 'pk p1', ['public.p1', 'public.root']);
    const pk2 = item('constraint', 'pk p2', ['public.p2', 'public.root']);
    const fk = item('fk', 'fk root', ['public.root', 'public.users']);
    const outcome = await runTasks(pool, [pk1, pk2, fk].map((i) => statementTask(i, [])), new AbortController().signal);
    expect(outcome.failed).toBeUndefined();
    expect(outcome.done).toHaveLength(3);
    expect(overlaps).toContainEqual(['pk p1', 'pk p2']);
    expect(overlaps.filter((o) => o.includes('fk root'))).toEqual([['fk root']]);
  });

  it('runs indexes of one table together, holds a table exclusively for a constraint, and honours dependencies', async () => {
    const { pool, overlaps, order } = clients(3);
    const i1 = item('index', 'index a1', ['public.a']);
    const i2 = item('index', 'index a2', ['public.a']);
    const check = item('check', 'check a', ['public.a']);
    const trig = item('trigger', 'trigger a', ['public.a'], [check.id]);
    const outcome = await runTasks(pool, [i1, i2, check, trig].map((i) => statementTask(i, [])), new AbortController().signal);
    expect(outcome.done).toHaveLength(4);
    expect(overlaps).toContainEqual(['index a1', 'index a2']);
    for (const o of overlaps) if (o.includes('check a') || o.includes('trigger a')) expect(o).toHaveLength(1);
    expect(order.indexOf('trigger a')).toBeGreaterThan(order.indexOf('check a'));
  });

  it('builds a key through its unique index beside the table\'s other indexes; dependents wait for the constraint', async () => {
    const { pool, overlaps, order } = clients(3);
    const pk = { ...item('constraint', 'pk a', ['public.a']), viaIndex: { index: 'unique index a', attach: 'attach pk a' } };
    const other = item('index', 'index a2', ['public.a']);
    const fk = item('fk', 'fk b', ['public.b', 'public.a'], [pk.id]);
    let id = 1000;
    const tasks = [...postDataTasks(pk, ['owner pk a'], [], () => id++), ...[other, fk].map((i) => postDataTasks(i, [], [], () => id++)).flat()];
    expect(tasks.map((t) => t.id)).toEqual([1000, pk.id, other.id, fk.id]);
    const outcome = await runTasks(pool, tasks, new AbortController().signal);
    expect(outcome.done).toHaveLength(4);
    expect(overlaps).toContainEqual(['index a2', 'unique index a']);
    for (const o of overlaps) if (o.some((s) => s.startsWith('attach pk a'))) expect(o).toHaveLength(1);
    expect(order.findIndex((s) => s.startsWith('attach pk a'))).toBeGreaterThan(order.indexOf('unique index a'));
    expect(order.indexOf('fk b')).toBeGreaterThan(order.findIndex((s) => s.startsWith('attach pk a')));
    expect(order).toContain('attach pk a\nowner pk a');
  });

  it('orders by longest chain: a small table a foreign key on the largest one needs loads before a mid-sized table', () => {
    const data = (name: string) => ({ ...statementTask(item('table', `data ${name}`, [name]), []), exclusive: [name] });
    const [dB, dM, dS] = [data('big'), data('mid'), data('small')];
    const iB = statementTask(item('index', 'index big', ['big'], [dB.id]), []);
    const pkS = statementTask(item('constraint', 'pk small', ['small'], [dS.id]), []);
    const fk = statementTask(item('fk', 'fk big', ['big', 'small'], [dB.id, pkS.id]), []);
    // No dependency, but the key's exclusive lock on `small` waits for it.
    const iS = statementTask(item('index', 'index small', ['small'], [dS.id]), []);
    const tableOf = new Map([[dB.id, 'big'], [dM.id, 'mid'], [dS.id, 'small']]);
    const bytes = new Map([['big', 100], ['mid', 60], ['small', 10]]);
    const order = sortByLevel([dB, dM, dS, iB, pkS, fk, iS], tableOf, bytes).map((t) => t.label);
    // The big table's chain first; then the small one's (its index before its key, which locks it
    // exclusively), all before the mid-sized table that nothing waits for.
    expect(order).toEqual(['table data big', 'index index big', 'table data small', 'index index small', 'constraint pk small', 'fk fk big', 'table data mid']);
  });

  it('starts nothing new after a failure and says what did not run', async () => {
    const failing = { query: async () => Promise.reject(new Error('boom')) } as unknown as pg.Client;
    const a = item('check', 'check x', ['public.x']);
    const b = item('check', 'check y', ['public.y'], [a.id]);
    const outcome = await runTasks([failing], [a, b].map((i) => statementTask(i, [])), new AbortController().signal);
    expect((outcome.failed?.error as Error).message).toBe('boom');
    expect(outcome.notRun.map((t) => t.label)).toEqual(['check check y']);
  });

  it('starts the first ready task in the given order: one whose dependency just finished goes before later ones', async () => {
    const { pool, order } = clients(1, 1);
    const a = item('check', 'a', ['public.a']);
    const b = item('check', 'b', ['public.b'], [a.id]);
    const c = item('check', 'c', ['public.c']);
    const d = item('check', 'd', ['public.d'], [b.id, 999_999]); // a dependency outside the tasks does not hold it back
    const outcome = await runTasks(pool, [a, b, c, d].map((i) => statementTask(i, [])), new AbortController().signal);
    expect(outcome.done).toHaveLength(4);
    expect(order).toEqual(['a', 'b', 'c', 'd']);
  });

  it('runs 30,000 tasks of 10,000 tables (a load, an index, a key each) over two connections, each after what it needs', async () => {
    const ran: string[] = [];
    const pool = [0, 1].map(() => ({ query: async (sql: string) => void ran.push(sql) }) as unknown as pg.Client);
    const tasks = Array.from({ length: 10_000 }, (_, t) => {
      const load = item('check', `load ${t}`, [`public.t${t}`]);
      const index = item('index', `index ${t}`, [`public.t${t}`], [load.id]);
      const key = item('constraint', `key ${t}`, [`public.t${t}`], [index.id]);
      return [load, index, key];
    })
      .flat()
      .map((i) => statementTask(i, []));
    const outcome = await runTasks(pool, tasks, new AbortController().signal);
    expect(outcome.done).toHaveLength(30_000);
    expect(outcome.notRun).toEqual([]);
    const at = new Map(ran.map((sql, i) => [sql, i]));
    for (let t = 0; t < 10_000; t += 997) {
      expect(at.get(`index ${t}`)!).toBeGreaterThan(at.get(`load ${t}`)!);
      expect(at.get(`key ${t}`)!).toBeGreaterThan(at.get(`index ${t}`)!);
    }
  });
});
