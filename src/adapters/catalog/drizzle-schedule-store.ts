import type BetterSqlite3 from 'better-sqlite3';
import { and, asc, count, desc, eq, lt, sql } from 'drizzle-orm';
import { type BetterSQLite3Database, drizzle } from 'drizzle-orm/better-sqlite3';
import type { ScheduleDefinitions } from '../../application/ports/schedule-definitions.js';
import type { NewRun, RunOutcome, RunResult, ScheduleHistory, ScheduleRun } from '../../application/ports/schedule-history.js';
import type { ClaimRequest, ClaimResult, ScheduleLock, ScheduleLocks } from '../../application/ports/schedule-locks.js';
import type { ScheduleState, ScheduleStates } from '../../application/ports/schedule-states.js';
import type { DaemonInfo, SchedulerDaemons } from '../../application/ports/scheduler-daemons.js';
import type { BackupKind } from '../../domain/backup-kind.js';
import { DbBackupError } from '../../domain/errors.js';
import type { CatchUpPolicy, ScheduleDefinition, ScheduleTask } from '../../domain/schedule.js';
import { ensurePrivateFile } from '../../infrastructure/files.js';
import { migrateCatalog } from './migrate.js';
import { scheduleLocks, scheduleRuns, schedules, scheduleState, schedulerDaemons } from './schema.js';
import { Database } from '../../infrastructure/sqlite-driver.js';



type Db = BetterSQLite3Database;
/** Takes the write lock at BEGIN, waiting busy_timeout for it (see the class comment). */
const IMMEDIATE = { behavior: 'immediate' } as const;
const iso = (d: Date) => d.toISOString();
const date = (s: string | null) => (s === null ? undefined : new Date(s));
const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

/**
 * The scheduler's tables in the catalog file (its own connection, so a daemon and the workers
 * it starts each hold one). `claim` runs in a BEGIN IMMEDIATE transaction: SQLite's write lock
 * makes it atomic across processes sharing the file. Every transaction that reads before it
 * writes is IMMEDIATE too: a deferred one that must turn its read into a write while another
 * connection writes fails at once with SQLITE_BUSY (busy_timeout does not apply to that upgrade).
 */
export class DrizzleScheduleStore implements ScheduleDefinitions, ScheduleStates, ScheduleLocks, ScheduleHistory, SchedulerDaemons {
  private sqlite: BetterSqlite3.Database | undefined;
  private connection: Db | undefined;

  /** Opens nothing yet: the file is opened (and migrated) on first use, so an unused store costs nothing. */
  constructor(private readonly file: string) {}

  private get db(): Db {
    if (this.connection) return this.connection;
    try {
      if (this.file !== ':memory:') ensurePrivateFile(this.file);
      this.sqlite = new Database(this.file);
      this.sqlite.pragma('journal_mode = WAL');
      this.sqlite.pragma('busy_timeout = 10000');
      const db = drizzle(this.sqlite);
      migrateCatalog(db, this.sqlite);
      this.connection = db;
      return db;
    } catch (err) {
      this.sqlite?.close();
      throw new DbBackupError(
        'E_CONFIG',
        `Cannot open the catalog at ${this.file}: ${(err as Error).message}. Set --data-dir or DBBACKUP_DATA_DIR to a writable folder.`,
        { cause: err },
      );
    }
  }

  async definitions(): Promise<ScheduleDefinition[]> {
    return this.db
      .select()
      .from(schedules)
      .orderBy(asc(schedules.name))
      .all()
      .map((r) => ({
        name: r.name,
        cron: r.cron,
        task: r.task as ScheduleTask,
        source: r.source,
        kind: opt(r.kind) as BackupKind | undefined,
        timezone: opt(r.timezone),
        catchUp: opt(r.catchUp) as CatchUpPolicy | undefined,
        origin: 'cli' as const,
      }));
  }

  async addDefinition(def: ScheduleDefinition, now: Date): Promise<void> {
    this.db.transaction((tx) => {
      if (tx.select().from(schedules).where(eq(schedules.name, def.name)).get()) {
        throw new DbBackupError('E_USAGE', `A schedule named "${def.name}" exists already; pick another --name or remove it first.`);
      }
      tx.insert(schedules)
        .values({ name: def.name, cron: def.cron, task: def.task, source: def.source, kind: def.kind, timezone: def.timezone, catchUp: def.catchUp, createdAt: iso(now) })
        .run();
      tx.delete(scheduleState).where(eq(scheduleState.name, def.name)).run();
      tx.insert(scheduleState).values({ name: def.name, lastSlot: iso(now) }).run();
    }, IMMEDIATE);
  }

  async removeDefinition(name: string): Promise<boolean> {
    return this.db.transaction((tx) => {
      const removed = tx.delete(schedules).where(eq(schedules.name, name)).run().changes > 0;
      tx.delete(scheduleState).where(eq(scheduleState.name, name)).run();
      return removed;
    });
  }

  async states(): Promise<ScheduleState[]> {
    return this.db.select().from(scheduleState).all().map(toState);
  }

  async ensureState(name: string, now: Date): Promise<ScheduleState> {
    this.db.insert(scheduleState).values({ name, lastSlot: iso(now) }).onConflictDoNothing().run();
    return toState(this.db.select().from(scheduleState).where(eq(scheduleState.name, name)).get()!);
  }

  async setEnabled(name: string, enabled: boolean, now: Date): Promise<void> {
    this.db.transaction((tx) => {
      tx.insert(scheduleState).values({ name, lastSlot: iso(now) }).onConflictDoNothing().run();
      const set = enabled ? { enabled, lastSlot: iso(now) } : { enabled };
      tx.update(scheduleState).set(set).where(eq(scheduleState.name, name)).run();
    });
  }

  async markHandled(name: string, slot: Date): Promise<boolean> {
    return (
      this.db
        .update(scheduleState)
        .set({ lastSlot: iso(slot) })
        .where(and(eq(scheduleState.name, name), lt(scheduleState.lastSlot, iso(slot))))
        .run().changes > 0
    );
  }

  async claim(r: ClaimRequest): Promise<ClaimResult> {
    return this.db.transaction(
      (tx) => {
        tx.insert(scheduleState).values({ name: r.name, lastSlot: iso(r.now) }).onConflictDoNothing().run();
        const state = tx.select().from(scheduleState).where(eq(scheduleState.name, r.name)).get()!;
        if (state.lastSlot >= iso(r.slot)) return { kind: 'taken' as const };
        tx.update(scheduleState).set({ lastSlot: iso(r.slot) }).where(eq(scheduleState.name, r.name)).run();
        const lock = tx.select().from(scheduleLocks).where(eq(scheduleLocks.name, r.name)).get();
        if (lock && lock.heartbeatAt >= iso(r.staleBefore)) return { kind: 'busy' as const, holder: toLock(lock) };
        const row = { name: r.name, owner: r.owner, slot: iso(r.slot), acquiredAt: iso(r.now), heartbeatAt: iso(r.now) };
        tx.insert(scheduleLocks).values(row).onConflictDoUpdate({ target: scheduleLocks.name, set: row }).run();
        return lock ? { kind: 'claimed' as const, tookOverFrom: lock.owner } : { kind: 'claimed' as const };
      },
      IMMEDIATE,
    );
  }

  async reclaim(r: ClaimRequest): Promise<ClaimResult> {
    return this.db.transaction((tx) => {
      const lock = tx.select().from(scheduleLocks).where(eq(scheduleLocks.name, r.name)).get();
      if (!lock || lock.owner === r.owner || lock.slot !== iso(r.slot)) return { kind: 'taken' as const };
      if (lock.heartbeatAt >= iso(r.staleBefore)) return { kind: 'busy' as const, holder: toLock(lock) };
      tx.update(scheduleLocks).set({ owner: r.owner, acquiredAt: iso(r.now), heartbeatAt: iso(r.now) }).where(eq(scheduleLocks.name, r.name)).run();
      return { kind: 'claimed' as const, tookOverFrom: lock.owner };
    }, IMMEDIATE);
  }

  async heartbeat(owner: string, now: Date): Promise<string[]> {
    return this.db.transaction((tx) => {
      tx.update(schedulerDaemons).set({ heartbeatAt: iso(now) }).where(eq(schedulerDaemons.owner, owner)).run();
      tx.update(scheduleLocks).set({ heartbeatAt: iso(now) }).where(eq(scheduleLocks.owner, owner)).run();
      return tx.select({ name: scheduleLocks.name }).from(scheduleLocks).where(eq(scheduleLocks.owner, owner)).all().map((l) => l.name);
    });
  }

  async release(name: string, owner: string): Promise<void> {
    this.db.delete(scheduleLocks).where(and(eq(scheduleLocks.name, name), eq(scheduleLocks.owner, owner))).run();
  }

  async locks(): Promise<ScheduleLock[]> {
    return this.db.select().from(scheduleLocks).orderBy(asc(scheduleLocks.name)).all().map(toLock);
  }

  async startRun(run: NewRun): Promise<number> {
    return this.insertRun(run);
  }

  async recordRun(run: NewRun): Promise<number> {
    return this.insertRun(run);
  }

  async finishRun(id: number, r: RunResult): Promise<void> {
    this.db.transaction((tx) => {
      const run = tx.select().from(scheduleRuns).where(eq(scheduleRuns.id, id)).get();
      if (!run) return;
      tx.update(scheduleRuns)
        .set({
          finishedAt: iso(r.finishedAt),
          outcome: r.outcome,
          attempts: r.attempts,
          backupId: r.backupId ?? null,
          // null, not undefined (which drizzle leaves out): a run marked interrupted and finished later keeps no stale error.
          errorCode: r.errorCode ?? null,
          errorMessage: r.errorMessage ?? null,
          durationMs: r.durationMs,
          storedSize: r.storedSize,
          ...(r.note !== undefined ? { note: r.note } : {}),
        })
        .where(eq(scheduleRuns.id, id))
        .run();
      if (r.outcome === 'interrupted') {
        tx.update(scheduleState).set({ lastRunAt: run.startedAt, lastOutcome: r.outcome }).where(eq(scheduleState.name, run.schedule)).run();
        return;
      }
      const ok = r.outcome === 'success';
      tx.update(scheduleState)
        .set({
          lastRunAt: run.startedAt,
          lastOutcome: r.outcome,
          ...(ok ? { lastSuccessAt: iso(r.finishedAt), consecutiveFailures: 0 } : { consecutiveFailures: sql`${scheduleState.consecutiveFailures} + 1` }),
        })
        .where(eq(scheduleState.name, run.schedule))
        .run();
    }, IMMEDIATE);
  }

  async abandonRuns(owner: string, now: Date, name?: string): Promise<ScheduleRun[]> {
    const where = and(eq(scheduleRuns.owner, owner), eq(scheduleRuns.outcome, 'running'), name === undefined ? undefined : eq(scheduleRuns.schedule, name));
    return this.db
      .update(scheduleRuns)
      .set({ outcome: 'interrupted', finishedAt: iso(now), errorCode: 'E_INTERRUPTED', errorMessage: 'The daemon running it stopped before it finished.' })
      .where(where)
      .returning()
      .all()
      .map(toRun);
  }

  async history(filter: { schedule?: string; limit: number }): Promise<ScheduleRun[]> {
    return this.db
      .select()
      .from(scheduleRuns)
      .where(filter.schedule === undefined ? undefined : eq(scheduleRuns.schedule, filter.schedule))
      .orderBy(desc(scheduleRuns.id))
      .limit(filter.limit)
      .all()
      .map(toRun);
  }

  async outcomeCounts(): Promise<{ schedule: string; outcome: RunOutcome; count: number }[]> {
    return this.db
      .select({ schedule: scheduleRuns.schedule, outcome: scheduleRuns.outcome, count: count() })
      .from(scheduleRuns)
      .groupBy(scheduleRuns.schedule, scheduleRuns.outcome)
      .orderBy(asc(scheduleRuns.schedule), asc(scheduleRuns.outcome))
      .all()
      .map((r) => ({ ...r, outcome: r.outcome as RunOutcome }));
  }

  async registerDaemon(d: DaemonInfo): Promise<void> {
    const row = { owner: d.owner, host: d.host, pid: d.pid, startedAt: iso(d.startedAt), heartbeatAt: iso(d.heartbeatAt) };
    this.db.insert(schedulerDaemons).values(row).onConflictDoUpdate({ target: schedulerDaemons.owner, set: row }).run();
  }

  async unregisterDaemon(owner: string): Promise<void> {
    this.db.delete(schedulerDaemons).where(eq(schedulerDaemons.owner, owner)).run();
  }

  async daemons(): Promise<DaemonInfo[]> {
    return this.db
      .select()
      .from(schedulerDaemons)
      .orderBy(asc(schedulerDaemons.startedAt))
      .all()
      .map((r) => ({ owner: r.owner, host: r.host, pid: r.pid, startedAt: new Date(r.startedAt), heartbeatAt: new Date(r.heartbeatAt) }));
  }

  /** Releases the connection (no port has it: whoever opened the store closes it). */
  close(): void {
    if (this.sqlite?.open) this.sqlite.close();
    this.connection = undefined;
  }

  private insertRun(run: NewRun): number {
    const row = this.db
      .insert(scheduleRuns)
      .values({
        schedule: run.schedule,
        task: run.task,
        source: run.source,
        slot: run.slot ? iso(run.slot) : null,
        trigger: run.trigger,
        owner: run.owner,
        startedAt: iso(run.startedAt),
        finishedAt: run.finishedAt ? iso(run.finishedAt) : null,
        outcome: run.outcome,
        attempts: run.attempts,
        backupId: run.backupId,
        errorCode: run.errorCode,
        errorMessage: run.errorMessage,
        durationMs: run.durationMs,
        storedSize: run.storedSize,
        note: run.note,
      })
      .returning({ id: scheduleRuns.id })
      .get();
    return row.id;
  }
}

function toState(r: typeof scheduleState.$inferSelect): ScheduleState {
  return {
    name: r.name,
    enabled: opt(r.enabled),
    lastSlot: new Date(r.lastSlot),
    lastRunAt: date(r.lastRunAt),
    lastOutcome: opt(r.lastOutcome) as RunOutcome | undefined,
    lastSuccessAt: date(r.lastSuccessAt),
    consecutiveFailures: r.consecutiveFailures,
  };
}

function toLock(r: typeof scheduleLocks.$inferSelect): ScheduleLock {
  return { name: r.name, owner: r.owner, slot: date(r.slot), acquiredAt: new Date(r.acquiredAt), heartbeatAt: new Date(r.heartbeatAt) };
}

function toRun(r: typeof scheduleRuns.$inferSelect): ScheduleRun {
  return {
    id: r.id,
    schedule: r.schedule,
    task: r.task,
    source: r.source,
    slot: date(r.slot),
    trigger: r.trigger,
    owner: r.owner,
    startedAt: new Date(r.startedAt),
    finishedAt: date(r.finishedAt),
    outcome: r.outcome as RunOutcome,
    attempts: r.attempts,
    backupId: opt(r.backupId),
    errorCode: opt(r.errorCode),
    errorMessage: opt(r.errorMessage),
    durationMs: opt(r.durationMs),
    storedSize: opt(r.storedSize),
    note: opt(r.note),
  };
}
