import { DbBackupError } from '../../domain/errors.js';
import { compileSchedule as compileOne, type Schedule, type ScheduleDefinition } from '../../domain/schedule.js';
import type { ScheduleDefinitions } from '../ports/schedule-definitions.js';

/** Where schedules come from: the catalog (`schedule add`) and the config file. */
export interface ScheduleSources {
  /** The CLI-added definitions (use-cases that need more ports narrow this). */
  store: ScheduleDefinitions;
  /** The config file's `schedules:` (origin 'config'), in file order. */
  configured: () => ScheduleDefinition[];
  /** The zone of schedules that name none (the machine's local zone). */
  defaultZone: string;
}

export interface LoadedSchedules {
  schedules: Schedule[];
  /** Definitions that cannot run, with the reason (a CLI-added one shadowed by the config, say). */
  problems: { name: string; origin: string; problem: string }[];
}

/**
 * Every schedule, config-declared first. A config entry that is invalid throws E_CONFIG naming
 * `schedules.N`; a name declared twice in the config too. A CLI-added schedule whose name the
 * config also declares is shadowed (reported in `problems`, not run).
 */
export async function loadSchedules(src: ScheduleSources, compiled?: ScheduleCache): Promise<LoadedSchedules> {
  const compileSchedule = compiled ? compiled.compile : compileOne;
  const schedules: Schedule[] = [];
  const problems: LoadedSchedules['problems'] = [];
  const names = new Set<string>();
  src.configured().forEach((def, i) => {
    if (names.has(def.name)) throw new DbBackupError('E_CONFIG', `schedules.${i}: the name "${def.name}" is used twice; schedule names must be unique.`);
    names.add(def.name);
    schedules.push(compileSchedule({ ...def, origin: 'config' }, src.defaultZone, 'E_CONFIG', `schedules.${i} ("${def.name}")`));
  });
  for (const def of await src.store.definitions()) {
    if (names.has(def.name)) {
      problems.push({ name: def.name, origin: 'cli', problem: 'shadowed by a schedule of the same name in the config file' });
      continue;
    }
    try {
      schedules.push(compileSchedule(def, src.defaultZone));
    } catch (err) {
      problems.push({ name: def.name, origin: 'cli', problem: (err as Error).message });
    }
  }
  return { schedules, problems };
}

/**
 * Compiled schedules kept by their definition, for a process that loads the schedules again for
 * every queue delivery (compiling 300 crons took 300–500 ms on a loaded machine). An invalid
 * definition is never kept: it throws each time, as without the cache.
 */
export class ScheduleCache {
  private readonly kept = new Map<string, Schedule>();

  readonly compile = (def: ScheduleDefinition, defaultZone: string, code?: Parameters<typeof compileOne>[2], where?: string): Schedule => {
    const key = JSON.stringify([def, defaultZone, code, where]);
    const hit = this.kept.get(key);
    if (hit) return hit;
    const schedule = compileOne(def, defaultZone, code, where);
    if (this.kept.size >= 10_000) this.kept.clear(); // definitions that changed many times: start over
    this.kept.set(key, schedule);
    return schedule;
  };
}
