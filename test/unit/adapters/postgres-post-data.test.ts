import { describe, expect, it } from 'vitest';
import type { ConstraintRow, IndexRow, RelationRow } from '../../../src/adapters/connectors/postgres/postgres-catalog-types.js';
import { keyViaIndex, unqualified } from '../../../src/adapters/connectors/postgres/postgres-post-data.js';

const table = (relkind: RelationRow['relkind'] = 'r') => ({ ident: '"my.app".orders', relkind }) as RelationRow;
const key = (def: string) => ({ conname: 'orders_pkey', def }) as ConstraintRow;
const index = (def: string, parent: number | null = null) => ({ ident: '"my.app".orders_pkey', def, parent }) as IndexRow;

describe('keys built through their unique index', () => {
  it('splits a plain primary key or unique constraint into the index and ADD CONSTRAINT … USING INDEX', () => {
    expect(keyViaIndex(key('PRIMARY KEY (id, line)'), table(), index('CREATE UNIQUE INDEX orders_pkey ON "my.app".orders USING btree (id, line)'))).toEqual({
      index: 'CREATE UNIQUE INDEX orders_pkey ON "my.app".orders USING btree (id, line);',
      attach: 'ALTER TABLE ONLY "my.app".orders ADD CONSTRAINT "orders_pkey" PRIMARY KEY USING INDEX orders_pkey;',
    });
    expect(keyViaIndex(key('UNIQUE (email)'), table(), index('CREATE UNIQUE INDEX orders_pkey ON "my.app".orders USING btree (email)'))?.attach).toMatch(/ UNIQUE USING INDEX orders_pkey;$/);
  });

  it('keeps the one-statement form where USING INDEX cannot reproduce the constraint', () => {
    const plain = index('CREATE UNIQUE INDEX orders_pkey ON "my.app".orders USING btree (id)');
    for (const def of ['PRIMARY KEY (id) DEFERRABLE', 'PRIMARY KEY (id) INCLUDE (note)', "PRIMARY KEY (id) WITH (fillfactor='70')",
      'UNIQUE NULLS NOT DISTINCT (id)', 'PRIMARY KEY (id) USING INDEX TABLESPACE fast', 'EXCLUDE USING gist (r WITH &&)']) {
      expect(keyViaIndex(key(def), table(), plain), def).toBeUndefined();
    }
    expect(keyViaIndex(key('PRIMARY KEY (id)'), table('p'), plain)).toBeUndefined();
    expect(keyViaIndex(key('PRIMARY KEY (id)'), table(), index(plain.def, 42))).toBeUndefined();
    expect(keyViaIndex(key('PRIMARY KEY (id)'), table(), index('CREATE UNIQUE INDEX orders_pkey ON "my.app".orders USING btree (id) WITH (deduplicate_items=off)'))).toBeUndefined();
  });

  it('names an index without its schema, whatever the schema is called', () => {
    expect(unqualified('public.idx')).toBe('idx');
    expect(unqualified('"my.schema".idx')).toBe('idx');
    expect(unqualified('"a""b.c"."x.y"')).toBe('"x.y"');
  });
});
