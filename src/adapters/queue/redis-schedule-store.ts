import { randomUUID } from 'node:crypto';
import type { NewRun, RunOutcome, RunResult, ScheduleRun } from '../../application/ports/schedule-history.js';
import type { ClaimRequest, ClaimResult, ScheduleLock } from '../../application/ports/schedule-locks.js';
import type { ScheduleState } from '../../application/ports/schedule-states.js';
import type { ScheduleStore } from '../../application/ports/schedule-store.js';
import type { DaemonInfo } from '../../application/ports/scheduler-daemons.js';
import { DbBackupError } from '../../domain/errors.js';
import type { ScheduleDefinition } from '../../domain/schedule.js';
import { type RedisCommands, upSince, withReconnect } from './redis-commands.js';
import * as lua from './redis-schedule-scripts.js';

export interface RedisScheduleStoreOptions {
  /** Key prefix; every key is `{prefix}:…` (one hash slot). */
  prefix: string;
  /** How long a call waits for Redis to come back before it fails (default 5 min). */
  outageMs?: number;
  /** Runs kept in the history (newest), overall and per schedule (default 20 000). */
  maxRuns?: number;
  /** For messages: host:port, never the URL (it may hold a password). */
  where: string;
  /**
   * No lock counts as stale until Redis has been up for the lock timeout (default true): a holder
   * cannot renew while Redis is down, so a restart must not make every live lock look dead.
   * Off only where the clock is fake (the store contract's tests).
   */
  restartGrace?: boolean;
}

/** Largest record read back from Redis that we parse (what is read back is untrusted and bounded). */
const MAX_RECORD = 64 * 1024;

/**
 * Every scheduler port on one Redis: the fleet's shared store, so that `schedule status|history`,
 * `list --runs` and the metrics show the same history from any machine, and a slot is claimed
 * exactly once however many workers ask (each decision is one Lua script, atomic on the server).
 * Calls wait out a Redis restart (up to outageMs). The history is bounded (maxRuns, oldest dropped);
 * outcome counts are lifetime totals.
 */
export class RedisScheduleStore implements ScheduleStore {
  private readonly prefix: string;

  constructor(
    private readonly redis: RedisCommands,
    private readonly options: RedisScheduleStoreOptions,
  ) {
    this.prefix = `{${options.prefix}}:sched:`;
  }

  async definitions(): Promise<ScheduleDefinition[]> {
    const rows = (await this.cmd('HVALS', [this.key('defs')])) as string[];
    return rows.map((r) => ({ ...parse<ScheduleDefinition>(r), origin: 'cli' as const })).sort((a, b) => a.name.localeCompare(b.name));
  }

  async addDefinition(def: ScheduleDefinition, now: Date): Promise<void> {
    const { name, cron, task, source, kind, timezone, catchUp } = def;
    const added = await this.script(lua.ADD_DEFINITION, [name, JSON.stringify({ name, cron, task, source, kind, timezone, catchUp }), String(now.getTime())]);
    if (added === 0) throw new DbBackupError('E_USAGE', `A schedule named "${def.name}" exists already; pick another --name or remove it first.`);
  }

  async removeDefinition(name: string): Promise<boolean> {
    return (await this.script(lua.REMOVE_DEFINITION, [name])) === 1;
  }

  async states(): Promise<ScheduleState[]> {
    const flat = (await this.cmd('HGETALL', [this.key('states')])) as string[];
    const out: ScheduleState[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push(toState(flat[i]!, flat[i + 1]!));
    return out;
  }

  async ensureState(name: string, now: Date): Promise<ScheduleState> {
    return toState(name, (await this.script(lua.ENSURE_STATE, [name, String(now.getTime())])) as string);
  }

  async setEnabled(name: string, enabled: boolean, now: Date): Promise<void> {
    await this.script(lua.SET_ENABLED, [name, enabled ? '1' : '0', String(now.getTime())]);
  }

  async markHandled(name: string, slot: Date): Promise<boolean> {
    return (await this.script(lua.MARK_HANDLED, [name, String(slot.getTime())])) === 1;
  }

  async claim(r: ClaimRequest): Promise<ClaimResult> {
    return toClaim(await this.script(lua.CLAIM, claimArgs(await this.graced(r))));
  }

  async reclaim(r: ClaimRequest): Promise<ClaimResult> {
    return toClaim(await this.script(lua.RECLAIM, claimArgs(await this.graced(r))));
  }

  /** `r` with nothing stale while Redis has been up for less than the lock timeout (see restartGrace). */
  private async graced(r: ClaimRequest): Promise<ClaimRequest> {
    if (this.options.restartGrace === false) return r;
    const since = upSince(await this.cmd('INFO', ['server']), r.now.getTime());
    return since !== undefined && since > r.staleBefore.getTime() ? { ...r, staleBefore: new Date(0) } : r;
  }

  async heartbeat(owner: string, now: Date): Promise<string[]> {
    return ((await this.script(lua.HEARTBEAT, [owner, String(now.getTime())])) as string[] | null) ?? [];
  }

  async release(name: string, owner: string): Promise<void> {
    await this.script(lua.RELEASE, [name, owner]);
  }

  async locks(): Promise<ScheduleLock[]> {
    const rows = (await this.cmd('HVALS', [this.key('locks')])) as string[];
    return rows.map((r) => toLock(parse(r))).sort((a, b) => a.name.localeCompare(b.name));
  }

  async startRun(run: NewRun): Promise<number> {
    return this.addRun(run);
  }

  async recordRun(run: NewRun): Promise<number> {
    return this.addRun(run);
  }

  async finishRun(id: number, r: RunResult): Promise<void> {
    await this.script(lua.FINISH_RUN, [String(id), JSON.stringify({ ...r, finishedAt: r.finishedAt.getTime() })]);
  }

  async abandonRuns(owner: string, now: Date, name?: string): Promise<ScheduleRun[]> {
    const rows = (await this.script(lua.ABANDON_RUNS, [owner, String(now.getTime()), name ?? ''])) as string[] | null;
    return (Array.isArray(rows) ? rows : []).map((r) => toRun(parse(r)));
  }

  async history(filter: { schedule?: string; limit: number }): Promise<ScheduleRun[]> {
    const list = filter.schedule === undefined ? this.key('runs:ids') : this.key(`runs:s:${filter.schedule}`);
    const ids = (await this.cmd('LRANGE', [list, '0', String(Math.max(0, filter.limit - 1))])) as string[];
    if (ids.length === 0) return [];
    const rows = (await this.cmd('HMGET', [this.key('runs'), ...ids])) as (string | null)[];
    return rows.filter((r): r is string => typeof r === 'string').map((r) => toRun(parse(r)));
  }

  async outcomeCounts(): Promise<{ schedule: string; outcome: RunOutcome; count: number }[]> {
    const flat = (await this.cmd('HGETALL', [this.key('counts')])) as string[];
    const out: { schedule: string; outcome: RunOutcome; count: number }[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const [schedule, outcome] = flat[i]!.split('\u0000') as [string, RunOutcome];
      out.push({ schedule, outcome, count: Number(flat[i + 1]) });
    }
    return out.sort((a, b) => a.schedule.localeCompare(b.schedule) || a.outcome.localeCompare(b.outcome));
  }

  async registerDaemon(d: DaemonInfo): Promise<void> {
    await this.cmd('HSET', [this.key('daemons'), d.owner, JSON.stringify({ ...d, startedAt: d.startedAt.getTime(), heartbeatAt: d.heartbeatAt.getTime() })]);
  }

  async unregisterDaemon(owner: string): Promise<void> {
    await this.cmd('HDEL', [this.key('daemons'), owner]);
  }

  async daemons(): Promise<DaemonInfo[]> {
    const rows = (await this.cmd('HVALS', [this.key('daemons')])) as string[];
    return rows.map((r) => {
      const d = parse<DaemonInfo & { startedAt: number; heartbeatAt: number }>(r);
      return { owner: String(d.owner), host: String(d.host), pid: Number(d.pid), startedAt: new Date(d.startedAt), heartbeatAt: new Date(d.heartbeatAt), ...(d.role === 'worker' ? { role: 'worker' as const } : {}) };
    });
  }

  /** Closes the connection (the composition root's to call). */
  async close(): Promise<void> {
    await this.redis.quit().catch(() => undefined);
  }

  private async addRun(run: NewRun): Promise<number> {
    const row = { ...run, slot: run.slot?.getTime(), startedAt: run.startedAt.getTime(), finishedAt: run.finishedAt?.getTime() };
    return (await this.script(lua.ADD_RUN, [JSON.stringify(row), String(this.options.maxRuns ?? 20_000)])) as number;
  }

  private key(name: string): string {
    return `${this.prefix}${name}`;
  }

  /**
   * Runs a script with a fresh request id after its arguments (and how long the server keeps it):
   * the writes made `once` (see redis-schedule-scripts.ts) are applied once however often this
   * very command is resent, by ioredis on reconnect or by `cmd` through an outage.
   */
  private script(source: string, args: string[]): Promise<unknown> {
    const rememberS = Math.ceil((2 * (this.options.outageMs ?? 300_000)) / 1000) + 60;
    return this.cmd('EVAL', [source, '1', this.prefix, ...args, String(rememberS), randomUUID()]);
  }

  private cmd(command: string, args: string[]): Promise<unknown> {
    return withReconnect(() => this.redis.sendCommand(command, args), this.options.outageMs ?? 300_000, this.options.where, () => this.redis.lastError);
  }
}

function claimArgs(r: ClaimRequest): string[] {
  return [r.name, String(r.slot.getTime()), r.owner, String(r.now.getTime()), String(r.staleBefore.getTime())];
}

function parse<T = Record<string, unknown>>(text: string): T {
  if (typeof text !== 'string' || text.length > MAX_RECORD) throw new DbBackupError('E_INTERNAL', 'A scheduler record in Redis is not what dbbackup wrote (too large or not text).');
  return JSON.parse(text) as T;
}

const date = (ms: unknown) => (typeof ms === 'number' ? new Date(ms) : undefined);

function toClaim(raw: unknown): ClaimResult {
  const c = parse<{ kind: string; tookOverFrom?: string; holder?: Record<string, unknown> }>(raw as string);
  if (c.kind === 'busy') return { kind: 'busy', holder: toLock(c.holder ?? {}) };
  if (c.kind === 'claimed') return c.tookOverFrom ? { kind: 'claimed', tookOverFrom: c.tookOverFrom } : { kind: 'claimed' };
  return { kind: 'taken' };
}

function toLock(l: Record<string, unknown>): ScheduleLock {
  return { name: String(l.name), owner: String(l.owner), slot: date(l.slot), acquiredAt: new Date(Number(l.acquiredAt)), heartbeatAt: new Date(Number(l.heartbeatAt)) };
}

function toState(name: string, raw: string): ScheduleState {
  const s = parse(raw);
  return {
    name,
    enabled: typeof s.enabled === 'boolean' ? s.enabled : undefined,
    lastSlot: new Date(Number(s.lastSlot)),
    lastRunAt: date(s.lastRunAt),
    lastOutcome: typeof s.lastOutcome === 'string' ? (s.lastOutcome as RunOutcome) : undefined,
    lastSuccessAt: date(s.lastSuccessAt),
    consecutiveFailures: Number(s.consecutiveFailures ?? 0),
  };
}

function toRun(r: Record<string, unknown>): ScheduleRun {
  const opt = <T>(v: unknown) => (v === undefined || v === null ? undefined : (v as T));
  return {
    id: Number(r.id),
    schedule: String(r.schedule),
    task: String(r.task),
    source: String(r.source),
    slot: date(r.slot),
    trigger: String(r.trigger),
    owner: String(r.owner),
    startedAt: new Date(Number(r.startedAt)),
    finishedAt: date(r.finishedAt),
    outcome: r.outcome as RunOutcome,
    attempts: Number(r.attempts ?? 0),
    backupId: opt(r.backupId),
    errorCode: opt(r.errorCode),
    errorMessage: opt(r.errorMessage),
    durationMs: opt(r.durationMs),
    storedSize: opt(r.storedSize),
    note: opt(r.note),
  };
}
