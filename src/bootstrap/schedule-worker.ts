import 'reflect-metadata';
import { parentPort, workerData } from 'node:worker_threads';
import { ContainerModule } from 'inversify';
import type { JobOutcome } from '../application/ports/schedule-job-runner.js';
import { RunScheduledTask } from '../application/use-cases/run-scheduled-task.js';
import type { WorkerInput, WorkerResult } from '../adapters/scheduler/worker-protocol.js';
import { FileProgress, progressFolder } from '../adapters/progress/progress-file.js';
import { policyFromConfig } from '../domain/retention.js';
import { appServices, buildContainer } from './container.js';
import { loadSettings } from './main.js';
import { daemonLogger, scheduledSource } from './schedule-daemon.js';
import { Tokens } from './tokens.js';

/**
 * A scheduled job's worker thread (started by BreeJobRunner): loads the daemon's configuration,
 * runs one attempt of the task, posts `{ type: 'result' }` and then 'done'. 'cancel' aborts the
 * task; the worker still reports (interrupted) and ends. Notifications are the daemon's job, after
 * the last retry, so the use-cases here get none.
 */
const input = workerData as WorkerInput;
const controller = new AbortController();
parentPort?.on('message', (message) => {
  if (message === 'cancel') controller.abort(new Error('cancelled by the scheduler'));
});

async function run(): Promise<JobOutcome> {
  const { context, task } = input;
  const globals = { ...context.globals, verbose: context.logLevel === 'debug', quiet: false, json: true, dryRun: false };
  const { settings, runtime } = await loadSettings(globals, process.env);
  // Logs go where the daemon's go (stdout and the log file); no notifiers (see above).
  const logger = daemonLogger(runtime, context.logLevel).child({ schedule: task.schedule, slot: task.slot });
  // Progress goes to a small file the dashboard (`dbbackup ui`, another process) shows live.
  const progress = new FileProgress(progressFolder(runtime.dataDir), { schedule: task.schedule, source: task.source });
  const services = appServices(
    buildContainer({ ...runtime, logFile: undefined, progress: false, notifications: [] }, [
      new ContainerModule(({ rebind }) => {
        rebind(Tokens.Logger).toConstantValue(logger);
        rebind(Tokens.Progress).toConstantValue(progress);
      }),
    ]),
  );
  try {
    const runner = new RunScheduledTask({
      runBackup: services.runBackup,
      verifyBackup: services.verifyBackup,
      source: (name) => scheduledSource(settings, name, services.keys, process.env),
      prune: async (source, name, signal) => {
        const policy = policyFromConfig(settings.source(name).retention as Record<string, unknown> | undefined);
        for (const repository of source.repositories) await services.pruneBackups.execute({ repository, source: name, policy }, signal);
      },
    });
    return await runner.execute({ task: task.task, source: task.source, kind: task.kind }, controller.signal);
  } finally {
    progress.close();
    services.close();
  }
}

run()
  .catch((err: unknown): JobOutcome => {
    const e = err as { code?: string; message?: string };
    return { outcome: 'failure', error: { code: typeof e.code === 'string' && e.code.startsWith('E_') ? e.code : 'E_INTERNAL', message: String(e.message ?? err) } };
  })
  .then((outcome) => {
    parentPort?.postMessage({ type: 'result', outcome } satisfies WorkerResult);
    parentPort?.postMessage('done');
  });
