import type { SlotSource, SourceSlots } from '../../../application/use-cases/manage-capture-slots.js';
import type { Settings } from '../../../infrastructure/config/settings.js';
import { formatBytes, table } from '../render.js';

/**
 * The config's sources that capture changes (`capture: changes`), or only `name` (whatever it
 * says), as the slot use-case takes them: connection, repositories and warning threshold.
 */
export function configuredSlotSources(settings: Settings, name?: string, onError?: (source: string, err: unknown) => void): SlotSource[] {
  const sources = settings.config.section.sources ?? {};
  const names = name !== undefined ? [name] : Object.keys(sources).filter((n) => (sources[n] as Record<string, unknown>).capture === 'changes');
  return names.flatMap((n) => {
    try {
      const src = settings.source(n);
      return [{ name: n, target: src.target, repositories: src.repositories.map((r) => r.url), warnBytes: settings.slotWarnBytes(n).value }];
    } catch (err) {
      // A side view (list, schedule status) goes on without a source it cannot resolve (an enc: password without the key).
      if (!onError) throw err;
      onError(n, err);
      return [];
    }
  });
}

/** For side views: a source that cannot be resolved is a warning on stderr. */
export function warnOn(stderr: NodeJS.WritableStream): (source: string, err: unknown) => void {
  return (source, err) => void stderr.write(`warning: the capture slots of "${source}" are not shown: ${(err as Error)?.message ?? String(err)}\n`);
}

/** The slots of each source as a table (source, slot, state, retained, until lost, confirmed), then the warnings and problems. */
export function slotTable(results: readonly SourceSlots[]): string {
  const rows = results.flatMap((r) =>
    r.problem
      ? [[r.source, '-', `cannot look: ${r.problem.code}`, '-', '-', '-']]
      : r.slots.length === 0
        ? [[r.source, '-', 'no slot', '-', '-', '-']]
        : r.slots.map((s) => [
            r.source,
            s.name,
            `${s.health === 'ok' ? (s.active ? 'ok, in use' : 'ok') : s.health}${s.serverStatus ? ` (${s.serverStatus})` : ''}`,
            s.retainedBytes === null ? '-' : `${formatBytes(s.retainedBytes)}${s.retainedBytes > r.warnBytes ? ' (!)' : ''}`,
            s.safeBytes === null ? 'no limit' : formatBytes(s.safeBytes),
            s.confirmed ?? '-',
          ]),
  );
  const notes = results.flatMap((r) => [...r.warnings.map((w) => `warning: ${r.source}: ${w}`), ...(r.problem ? [`warning: ${r.source}: ${r.problem.message}`] : [])]);
  return [table(['source', 'slot', 'state', 'retained WAL', 'until lost', 'confirmed'], rows), ...notes].join('\n');
}
