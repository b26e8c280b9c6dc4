import type { ScheduleDefinition } from '../domain/schedule.js';
import type { Settings } from '../infrastructure/config/settings.js';

// What every command's composition needs of the schedules, apart from the daemon (schedule-daemon.ts
// loads the scheduler, its job runners and the key handling: a backup needs none of them).

/** The config file's `schedules:` as definitions (origin 'config'). */
export function configuredSchedules(settings: Settings): ScheduleDefinition[] {
  return (settings.config.section.schedules ?? []).map((s) => ({
    name: s.name,
    cron: s.cron,
    task: s.task,
    source: s.source,
    kind: s.type,
    timezone: s.timezone,
    catchUp: s['catch-up'],
    enabled: s.enabled,
    origin: 'config' as const,
  }));
}

/** The machine's zone, for schedules that name none. */
export function localZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}
