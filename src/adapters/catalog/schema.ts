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

/** How each target of a backup run fared (multi-target runs), including the ones that failed. */
export const targetOutcomes = sqliteTable(
  'target_outcomes',
  {
    source: text('source').notNull(),
    backupId: text('backup_id').notNull(),
    repository: text('repository').notNull(),
    ok: integer('ok', { mode: 'boolean' }).notNull(),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    recordedAt: text('recorded_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.source, t.backupId, t.repository] })],
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

/** Schedules added with `schedule add` (config-declared ones live in the config file). */
export const schedules = sqliteTable('schedules', {
  name: text('name').primaryKey(),
  cron: text('cron').notNull(),
  task: text('task').notNull(),
  source: text('source').notNull(),
  kind: text('kind'),
  timezone: text('timezone'),
  catchUp: text('catch_up'),
  createdAt: text('created_at').notNull(),
});

/** Per-schedule state, for every origin: the last slot handled, last outcome, enable override. */
export const scheduleState = sqliteTable('schedule_state', {
  name: text('name').primaryKey(),
  enabled: integer('enabled', { mode: 'boolean' }),
  lastSlot: text('last_slot').notNull(),
  lastRunAt: text('last_run_at'),
  lastOutcome: text('last_outcome'),
  lastSuccessAt: text('last_success_at'),
  consecutiveFailures: integer('consecutive_failures').notNull().default(0),
});

/** Every scheduled run, skip and missed-run record: the history `schedule list/status` read. */
export const scheduleRuns = sqliteTable(
  'schedule_runs',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    schedule: text('schedule').notNull(),
    task: text('task').notNull(),
    source: text('source').notNull(),
    slot: text('slot'),
    trigger: text('trigger').notNull(),
    owner: text('owner').notNull(),
    startedAt: text('started_at').notNull(),
    finishedAt: text('finished_at'),
    outcome: text('outcome').notNull(),
    attempts: integer('attempts').notNull(),
    backupId: text('backup_id'),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    durationMs: integer('duration_ms'),
    storedSize: integer('stored_size'),
    note: text('note'),
  },
  (t) => [index('schedule_runs_schedule_idx').on(t.schedule, t.id), index('schedule_runs_owner_idx').on(t.owner, t.outcome)],
);

/** One row per schedule being run: who runs it and when they last said they are alive. */
export const scheduleLocks = sqliteTable('schedule_locks', {
  name: text('name').primaryKey(),
  owner: text('owner').notNull(),
  slot: text('slot'),
  acquiredAt: text('acquired_at').notNull(),
  heartbeatAt: text('heartbeat_at').notNull(),
});

/** Scheduler daemons running on this catalog. */
export const schedulerDaemons = sqliteTable('scheduler_daemons', {
  owner: text('owner').primaryKey(),
  host: text('host').notNull(),
  pid: integer('pid').notNull(),
  startedAt: text('started_at').notNull(),
  heartbeatAt: text('heartbeat_at').notNull(),
});
