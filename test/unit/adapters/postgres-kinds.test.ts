import { describe, expect, it } from 'vitest';
import type { KindRows } from '../../../src/adapters/connectors/postgres/postgres-catalog-kinds.js';
import { buildKindItems, subscriptionSql, useShellTypes } from '../../../src/adapters/connectors/postgres/postgres-kinds.js';
import type { TocItem } from '../../../src/adapters/connectors/postgres/postgres-toc.js';

const none: KindRows = {
  baseTypes: [], languages: [], accessMethods: [], transforms: [], conversions: [], subscriptions: [], securityLabels: [],
  database: { owner: 'postgres', acl: null, role_settings: null },
};

function build(rows: Partial<KindRows>, existing: Record<string, number> = {}) {
  const items: TocItem[] = [];
  const add = (item: Omit<TocItem, 'id' | 'deps' | 'tables'> & { tables?: string[] }) => {
    const full = { ...item, id: items.length + 100, deps: [], tables: item.tables ?? [] } as TocItem;
    items.push(full);
    return full;
  };
  const links = buildKindItems({ ...none, ...rows }, add, (c, oid) => `${c}:${oid}`, (k) => existing[k]);
  return { items, links };
}

describe('PostgreSQL kinds beyond tables, as pg_dump writes them', () => {
  it('a base type gets a shell its I/O functions are created against, and the full type after them', () => {
    const fnIn: TocItem = { id: 1, kind: 'function', section: 'pre-data', schema: 'k', name: 'k.t_in(cstring)', tables: [], deps: [], sql: '' };
    const { items, links } = build(
      { baseTypes: [{ oid: 7, ident: 'k.t', schema: 'k', typlen: -1, typbyval: false, typalign: 'i', typstorage: 'p', typcategory: 'S', typispreferred: false,
        typdelim: ',', collatable: true, typdefault: null, element: null, input: 'k.t_in', output: 'k.t_out', receive: null, send: null, typmodin: null,
        typmodout: null, analyze: null, subscript: null, io_oids: [11], owner: 'o', comment: null, acl: null }] },
      { 'pg_proc:11': 1 },
    );
    const [shell, type] = items;
    expect(shell!.sql).toBe('CREATE TYPE k.t;');
    expect(type!.sql).toBe("CREATE TYPE k.t (\n    INTERNALLENGTH = variable,\n    INPUT = k.t_in,\n    OUTPUT = k.t_out,\n    ALIGNMENT = int4,\n    STORAGE = plain,\n    CATEGORY = 'S',\n    COLLATABLE = true\n);");
    fnIn.deps = [type!.id]; // pg_depend: the function takes the type
    const all = [fnIn, ...items];
    useShellTypes(all, links);
    expect(fnIn.deps).toEqual([shell!.id]);
    expect(type!.deps).toEqual([shell!.id, fnIn.id]);
  });

  it('security labels name their provider and follow the labelled object; subscriptions never connect', () => {
    const { items } = build(
      { securityLabels: [{ classoid: 1259, objoid: 5, objtype: 'table', objname: 'public.secret', provider: 'selinux', label: "system_u:object_r:sepgsql_table_t:s0" }] },
      { '1259:5': 42 },
    );
    expect(items[0]).toMatchObject({ kind: 'security-label', section: 'post-data', deps: [42],
      sql: "SECURITY LABEL FOR \"selinux\" ON TABLE public.secret IS 'system_u:object_r:sepgsql_table_t:s0';" });
    const sql = subscriptionSql({ oid: 1, name: 's', conninfo: "host=h dbname='x'", publications: ['p 1'], slot: null, owner: 'o', comment: null,
      row: { subbinary: true, substream: 'p', subtwophasestate: 'd', subsynccommit: 'off', suborigin: 'none' } });
    expect(sql).toBe(`CREATE SUBSCRIPTION s CONNECTION 'host=h dbname=''x''' PUBLICATION "p 1" WITH (connect = false, slot_name = NONE, binary = true, streaming = parallel, origin = 'none');`);
  });

  it("the database's grants and per-role settings name whatever database the restore fills", () => {
    const { items } = build({ database: { owner: 'postgres', acl: [{ g: 'PUBLIC', p: 'CONNECT', o: false }], role_settings: [{ role: 'app', settings: ['search_path=a, b', 'work_mem=8MB'] }] } });
    expect(items).toHaveLength(1);
    expect(items[0]!.acl).toContain(`EXECUTE 'GRANT CONNECT ON DATABASE ' || pg_catalog.quote_ident(pg_catalog.current_database()) || ' TO PUBLIC';`);
    expect(items[0]!.acl).toContain(`EXECUTE 'ALTER ROLE app IN DATABASE ' || pg_catalog.quote_ident(pg_catalog.current_database()) || ' SET "search_path" TO a, b';`);
    expect(items[0]!.acl).toContain(`' SET "work_mem" TO ''8MB''';`);
  });
});
