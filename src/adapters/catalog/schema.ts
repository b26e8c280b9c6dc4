import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/** Complete backups known to this machine, per repository (a cache of the repositories' manifests). */
export const backups = sqliteTable(
  'backups',
  {
    repository: text('repository').notNull(),
    id: text('id').notNull(),
    source: text('source').notNull(),
    engine: text('engine').notNull(),
    kind: text('kind').notNull(),
    parent: text('parent'),
    startedAt: text('started_at').notNull(),
    finishedAt: text('finished_at').notNull(),
    storedSize: integer('stored_size').notNull(),
    rawSize: integer('raw_size').notNull(),
    durationMs: integer('duration_ms').notNull(),
    objectCount: integer('object_count').notNull(),
    partCount: integer('part_count').notNull(),
    recordedAt: text('recorded_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.repository, t.source, t.id] }), index('backups_source_idx').on(t.source, t.id)],
);

/** Every repository this machine has written to or read from. */
export const repositories = sqliteTable('repositories', {
  location: text('location').primaryKey(),
  firstSeenAt: text('first_seen_at').notNull(),
  lastScannedAt: text('last_scanned_at'),
});

/** When each kind of notification was last sent, so repeats can be throttled across runs. */
export const notificationState = sqliteTable('notification_state', {
  key: text('key').primaryKey(),
  lastSentAt: text('last_sent_at').notNull(),
});
