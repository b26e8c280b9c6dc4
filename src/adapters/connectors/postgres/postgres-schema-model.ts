import type { TocItem } from './postgres-toc.js';

/** What buildSchema (postgres-schema) makes of the catalog rows, and what the dump then copies. */

/** A table whose rows the dump copies. */
export interface DataTable {
  itemId: number;
  oid: number;
  object: string;
  ident: string;
  columns: string[];
  relpages: number;
  /** `WHERE …` that picks the rows to dump (an extension's configuration table: the user's rows). */
  filter?: string;
}

export interface SchemaModel {
  items: TocItem[];
  tables: DataTable[];
  /** Sequences whose current value the dump records (identity ones included). */
  sequences: { oid: number; ident: string; itemId: number }[];
  warnings: string[];
  /** Large objects whose bytes the dump copies (their items are kind 'large-objects'). */
  largeObjects: number[];
}
