import { rename, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { renderMetrics } from '../../scheduler/prometheus-metrics.js';
import type { CliServices } from '../context.js';
import { configuredSlotSources, warnOn } from '../slot/slot-sources.js';

/**
 * `--metrics FILE` of `schedule run` and `worker`: a function that rewrites the Prometheus text file
 * (atomically) from the schedules' state, or undefined without the flag. The capture slots are
 * looked at (and warned about: log, notification) each time.
 */
export function metricsWriter(services: CliServices, file: string | undefined, stderr: NodeJS.WritableStream): (() => Promise<void>) | undefined {
  if (file === undefined) return undefined;
  const path = resolve(file);
  const slotSources = configuredSlotSources(services.settings, undefined, warnOn(stderr));
  return async () => writeAtomically(path, renderMetrics(await services.manageSchedules.status(), await services.manageCaptureSlots.status(slotSources, { notify: true })));
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = `${file}.tmp-${process.pid}`;
  await writeFile(temp, text, 'utf8');
  await rename(temp, file);
}
