import { describe, expect, it } from 'vitest';
import { renderMetrics } from '../../../src/adapters/scheduler/prometheus-metrics.js';
import type { CaptureSlot } from '../../../src/application/ports/capture-slots.js';
import { alertSlots, slotWarnings } from '../../../src/application/services/slot-alerts.js';
import type { OutcomeEvent } from '../../../src/application/ports/notifier.js';
import { silentLogger } from '../../helpers/fakes.js';

const slot = (over: Partial<CaptureSlot>): CaptureSlot => ({
  name: 'dbbackup_app_abc',
  captureName: 'dbbackup_app',
  active: false,
  health: 'ok',
  serverStatus: 'reserved',
  retainedBytes: 100,
  safeBytes: null,
  confirmed: '0/1',
  ...over,
});

describe('capture slot warnings', () => {
  it('says nothing under the threshold; names the slot over it, at risk, or lost', () => {
    expect(slotWarnings([slot({ retainedBytes: 1000 })], 1000)).toEqual([]);
    expect(slotWarnings([slot({ retainedBytes: 3 * 1024 ** 3 })], 1024 ** 3)).toEqual([expect.stringMatching(/dbbackup_app_abc holds 3\.00 GiB of WAL on the server \(over the 1\.00 GiB of slot-warn-bytes/)]);
    expect(slotWarnings([slot({ health: 'at-risk', serverStatus: 'unreserved' })], 1024 ** 3)).toEqual([expect.stringMatching(/past max_slot_wal_keep_size/)]);
    expect(slotWarnings([slot({ health: 'lost', serverStatus: 'lost', retainedBytes: null })], 1024 ** 3)).toEqual([expect.stringMatching(/invalidated .* next backup must be a full/)]);
  });

  it('notifies once per alert: partial when over the threshold, failure with E_SLOT_LOST when lost', async () => {
    const sent: OutcomeEvent[] = [];
    const notifiers = [{ name: 'memory', throttleMs: 0, wants: () => true, send: async (e: OutcomeEvent) => void sent.push(e) }];
    const deps = { logger: silentLogger, clock: { now: () => new Date('2026-12-07T00:00:00Z') }, notifiers };
    await alertSlots(deps, 'app', [slot({})], []);
    expect(sent).toEqual([]);
    await alertSlots(deps, 'app', [slot({ retainedBytes: 5 })], ['too much']);
    await alertSlots(deps, 'app', [slot({ health: 'lost' })], ['lost']);
    expect(sent).toEqual([
      expect.objectContaining({ task: 'slot', outcome: 'partial', source: 'app', warnings: ['too much'] }),
      expect.objectContaining({ task: 'slot', outcome: 'failure', error: { code: 'E_SLOT_LOST', message: 'lost' } }),
    ]);
  });

  it('Prometheus: per slot its retained and safe bytes and whether it was lost; per source the threshold', () => {
    const text = renderMetrics({ at: new Date(), daemons: [], schedules: [], counts: [], problems: [] } as never, [
      { source: 'app', engine: 'postgres', slots: [slot({ retainedBytes: 42, safeBytes: 7 })], warnBytes: 1024, warnings: [] },
      { source: 'down', engine: 'postgres', slots: [], warnBytes: 1024, warnings: [], problem: { code: 'E_CONN_REFUSED', message: 'no' } },
    ]);
    expect(text).toContain('dbbackup_capture_slot_retained_bytes{source="app",slot="dbbackup_app_abc"} 42');
    expect(text).toContain('dbbackup_capture_slot_safe_bytes{source="app",slot="dbbackup_app_abc"} 7');
    expect(text).toContain('dbbackup_capture_slot_lost{source="app",slot="dbbackup_app_abc"} 0');
    expect(text).toContain('dbbackup_capture_slot_warn_bytes{source="app"} 1024');
    expect(text).toContain('dbbackup_capture_slot_check_ok{source="down"} 0');
  });
});
