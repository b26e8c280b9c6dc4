import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { runTasks, statementTask } from '../../../src/adapters/connectors/postgres/postgres-load.js';
import { SkipList, notReproducible, skipWarnings } from '../../../src/adapters/connectors/postgres/postgres-skips.js';
import type { TocItem } from '../../../src/adapters/connectors/postgres/postgres-toc.js';

const item = (id: number, kind: TocItem['kind'], name: string, deps: number[] = [], extra: Partial<TocItem> = {}): TocItem => ({
  id, kind, section: 'pre-data', schema: 'public', name, tables: [], deps, sql: `-- ${name}`, ...extra,
});

describe('skipping an object and what depends on it', () => {
  const type = item(1, 'not-reproducible', 'type public.casttesttype', [], { skip: 'dbbackup cannot reproduce a type yet' });
  const fn = item(2, 'function', 'public.casttestfunc(public.casttesttype)', [1]);
  const cast = item(3, 'cast', '(public.casttesttype AS integer)', [2, 1]);
  const view = item(4, 'view', 'public.v', [3]);
  const other = item(5, 'table', 'public.kept');

  it('skips dependents transitively, each named with the object it needs, and nothing else', () => {
    const skips = new SkipList([type, fn, cast, view, other]);
    expect(skips.skip(type, type.skip!).sort()).toEqual([1, 2, 3, 4]);
    expect(skips.has(5)).toBe(false);
    expect(skips.skip(fn, 'again')).toEqual([]);
    expect(skips.lines()).toContain('function public.casttestfunc(public.casttesttype): it needs not-reproducible type public.casttesttype, which was skipped');
    expect(skips.lines()[0]).toBe('not-reproducible type public.casttesttype: dbbackup cannot reproduce a type yet');
    expect(skips.size).toBe(4);
  });

  it('what the backup marks as not reproducible is listed for --dry-run, with --strict saying the restore would fail', () => {
    const listed = notReproducible([type, fn, other]);
    expect(listed.map((s) => s.object)).toEqual(['not-reproducible type public.casttesttype', 'function public.casttestfunc(public.casttesttype)']);
    const manifest = { engineInfo: { notReproducible: listed } };
    expect(skipWarnings(manifest, false)).toHaveLength(2);
    expect(skipWarnings(manifest, true)[2]).toMatch(/^--strict: the restore would fail/);
    expect(skipWarnings({ engineInfo: {} }, true)).toEqual([]);
  });
});

describe('restore tasks that fail are skipped with their dependents when the restore says so', () => {
  const failing = (bad: string) =>
    ({
      async query(sql: string) {
        if (sql.includes(bad)) throw new Error(`could not access file "$libdir/gone": No such file or directory`);
        return { rows: [] };
      },
    }) as unknown as pg.Client;
  const post = (id: number, name: string, deps: number[] = []) => ({ ...item(id, 'index', name, deps), section: 'post-data' as const, sql: name });

  it('drops the dependents of a skipped task and runs the rest', async () => {
    const a = post(1, 'index a');
    const b = post(2, 'trigger b', [1]);
    const c = post(3, 'index c');
    const skips = new SkipList([a, b, c]);
    const byId = new Map([a, b, c].map((i) => [i.id, i]));
    const outcome = await runTasks([failing('index a'), failing('index a')], [a, b, c].map((i) => statementTask(i, [])), new AbortController().signal, (task, error) =>
      skips.skip(byId.get(task.id)!, (error as Error).message),
    );
    expect(outcome.failed).toBeUndefined();
    expect(outcome.done.map((t) => t.label)).toEqual(['index index c']);
    expect(outcome.skipped.map((t) => t.label).sort()).toEqual(['index index a', 'index trigger b']);
    expect(outcome.notRun).toEqual([]);
  });

  it('without the callback the first failure stops the run, as before', async () => {
    const a = post(1, 'index a');
    const b = post(2, 'index b', [1]);
    const outcome = await runTasks([failing('index a')], [a, b].map((i) => statementTask(i, [])), new AbortController().signal);
    expect(outcome.failed?.task.label).toBe('index index a');
    expect(outcome.notRun.map((t) => t.label)).toEqual(['index index b']);
  });
});
