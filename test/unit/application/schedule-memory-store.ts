import type { NewRun, RunOutcome, RunResult, ScheduleRun } from '../../../src/application/ports/schedule-history.js';
import type { ClaimRequest, ClaimResult, ScheduleLock } from '../../../src/application/ports/schedule-locks.js';
import type { ScheduleState } from '../../../src/application/ports/schedule-states.js';
import type { ScheduleStore } from '../../../src/application/ports/schedule-store.js';
import type { DaemonInfo } from '../../../src/application/ports/scheduler-daemons.js';
import { DbBackupError } from '../../../src/domain/errors.js';
import type { ScheduleDefinition } from '../../../src/domain/schedule.js';

/** The ScheduleStore contract in memory, for use-case tests (one process, so atomic by construction). */
export class MemoryScheduleStore implements ScheduleStore {
  defs = new Map<string, ScheduleDefinition>();
  state = new Map<string, ScheduleState>();
  lockRows = new Map<string, ScheduleLock>();
  runs: ScheduleRun[] = [];
  daemonRows = new Map<string, DaemonInfo>();

  async definitions() {
    return [...this.defs.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
  async addDefinition(def: ScheduleDefinition, now: Date) {
    if (this.defs.has(def.name)) throw new DbBackupError('E_USAGE', `A schedule named "${def.name}" exists already`);
    this.defs.set(def.name, def);
    this.state.set(def.name, { name: def.name, lastSlot: now, consecutiveFailures: 0 });
  }
  async removeDefinition(name: string) {
    this.state.delete(name);
    return this.defs.delete(name);
  }
  async states() {
    return [...this.state.values()].map((s) => ({ ...s }));
  }
  async ensureState(name: string, now: Date) {
    if (!this.state.has(name)) this.state.set(name, { name, lastSlot: now, consecutiveFailures: 0 });
    return { ...this.state.get(name)! };
  }
  async setEnabled(name: string, enabled: boolean, now: Date) {
    const s = await this.ensureState(name, now);
    this.state.set(name, { ...s, enabled, lastSlot: enabled ? now : s.lastSlot });
  }
  async markHandled(name: string, slot: Date) {
    const s = this.state.get(name);
    if (!s || s.lastSlot >= slot) return false;
    s.lastSlot = slot;
    return true;
  }
  async reclaim(r: ClaimRequest): Promise<ClaimResult> {
    const lock = this.lockRows.get(r.name);
    if (!lock || lock.owner === r.owner || lock.slot?.getTime() !== r.slot.getTime()) return { kind: 'taken' };
    if (lock.heartbeatAt >= r.staleBefore) return { kind: 'busy', holder: { ...lock } };
    this.lockRows.set(r.name, { ...lock, owner: r.owner, acquiredAt: r.now, heartbeatAt: r.now });
    return { kind: 'claimed', tookOverFrom: lock.owner };
  }

  async claim(r: ClaimRequest): Promise<ClaimResult> {
    const s = await this.ensureState(r.name, r.now);
    if (s.lastSlot >= r.slot) return { kind: 'taken' };
    this.state.get(r.name)!.lastSlot = r.slot;
    const lock = this.lockRows.get(r.name);
    if (lock && lock.heartbeatAt >= r.staleBefore) return { kind: 'busy', holder: { ...lock } };
    this.lockRows.set(r.name, { name: r.name, owner: r.owner, slot: r.slot, acquiredAt: r.now, heartbeatAt: r.now });
    return lock ? { kind: 'claimed', tookOverFrom: lock.owner } : { kind: 'claimed' };
  }
  async heartbeat(owner: string, now: Date) {
    const d = this.daemonRows.get(owner);
    if (d) d.heartbeatAt = now;
    const names: string[] = [];
    for (const l of this.lockRows.values()) {
      if (l.owner === owner) {
        l.heartbeatAt = now;
        names.push(l.name);
      }
    }
    return names;
  }
  async release(name: string, owner: string) {
    if (this.lockRows.get(name)?.owner === owner) this.lockRows.delete(name);
  }
  async locks() {
    return [...this.lockRows.values()].map((l) => ({ ...l }));
  }
  async startRun(run: NewRun) {
    return this.recordRun(run);
  }
  async recordRun(run: NewRun) {
    const id = this.runs.length + 1;
    this.runs.push({ ...run, id });
    return id;
  }
  async finishRun(id: number, r: RunResult) {
    const run = this.runs.find((x) => x.id === id);
    if (!run) return;
    Object.assign(run, { errorCode: undefined, errorMessage: undefined }, r);
    const s = this.state.get(run.schedule);
    if (!s) return;
    s.lastRunAt = run.startedAt;
    s.lastOutcome = r.outcome;
    if (r.outcome === 'success') {
      s.lastSuccessAt = r.finishedAt;
      s.consecutiveFailures = 0;
    } else if (r.outcome !== 'interrupted') s.consecutiveFailures++;
  }
  async abandonRuns(owner: string, now: Date, name?: string) {
    const out: ScheduleRun[] = [];
    for (const r of this.runs) {
      if (r.owner === owner && r.outcome === 'running' && (name === undefined || r.schedule === name)) {
        Object.assign(r, { outcome: 'interrupted', finishedAt: now, errorCode: 'E_INTERRUPTED' });
        out.push({ ...r });
      }
    }
    return out;
  }
  async history(f: { schedule?: string; limit: number }) {
    return this.runs
      .filter((r) => f.schedule === undefined || r.schedule === f.schedule)
      .reverse()
      .slice(0, f.limit)
      .map((r) => ({ ...r }));
  }
  async outcomeCounts() {
    const m = new Map<string, { schedule: string; outcome: RunOutcome; count: number }>();
    for (const r of this.runs) {
      const k = `${r.schedule}|${r.outcome}`;
      m.set(k, { schedule: r.schedule, outcome: r.outcome, count: (m.get(k)?.count ?? 0) + 1 });
    }
    return [...m.values()];
  }
  async registerDaemon(d: DaemonInfo) {
    this.daemonRows.set(d.owner, { ...d });
  }
  async unregisterDaemon(owner: string) {
    this.daemonRows.delete(owner);
  }
  async daemons() {
    return [...this.daemonRows.values()];
  }
  close() {}
}
