import { parentPort, workerData } from 'node:worker_threads';
import { ContainerModule } from 'inversify';
import type { JobOutcome } from '../application/ports/schedule-job-runner.js';
import { RunScheduledTask } from '../application/use-cases/run-scheduled-task.js';
import type { PoolMessage, WorkerContext, WorkerInput, WorkerResult, WorkerTask } from '../adapters/scheduler/worker-protocol.js';
import { FileProgress, progressFolder } from '../adapters/progress/progress-file.js';
import { policyFromConfig } from '../domain/retention.js';
import { RotatingFile } from '../infrastructure/rotating-file.js';
import { appServices, buildContainer } from './container.js';
import { loadSettings } from './main.js';
import { daemonLogger, scheduledSource } from './schedule-daemon.js';
import { Tokens } from './tokens.js';

/**
 * A scheduled job's worker thread. Started with a task (BreeJobRunner): runs that one attempt,
 * posts `{ type: 'result' }` and then 'done'. Started without one (ThreadPoolJobRunner): a warm
 * thread that runs the attempts it is sent, one at a time, each with its own configuration load,
 * container, logger and progress file, nothing kept from one to the next but loaded code.
 * 'cancel' aborts the attempt; it still reports (interrupted). Notifications are the daemon's job,
 * after the last retry, so the use-cases here get none.
 */
const input = workerData as WorkerInput;

async function run(context: WorkerContext, task: WorkerTask, signal: AbortSignal): Promise<JobOutcome> {
  const globals = { ...context.globals, verbose: context.logLevel === 'debug', quiet: false, json: true, dryRun: false };
  const { settings, runtime } = await loadSettings(globals, process.env);
  // Logs go where the daemon's go (stdout and the log file); no notifiers (see above).
  const file = runtime.logFile ? new RotatingFile(runtime.logFile.path, runtime.logFile.rotation) : undefined;
  const logger = daemonLogger(runtime, context.logLevel, process.stdout, file).child({ schedule: task.schedule, slot: task.slot });
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
      verifyRestore: services.verifyRestore,
      source: (name) => scheduledSource(settings, name, services.keys, process.env),
      prune: async (source, name, signal) => {
        const policy = policyFromConfig(settings.source(name).retention as Record<string, unknown> | undefined);
        for (const repository of source.repositories) await services.pruneBackups.execute({ repository, source: name, policy }, signal);
      },
    });
    const scheduledRun = task.run === undefined ? undefined : { id: task.run, schedule: task.schedule, slot: task.slot };
    return await runner.execute({ task: task.task, source: task.source, kind: task.kind, scheduledRun }, signal);
  } finally {
    progress.close();
    services.close();
    file?.close();
  }
}

/** `run`, never rejecting: a thrown error is the attempt's failure (its code when it has one). */
function attempt(task: WorkerTask, signal: AbortSignal): Promise<JobOutcome> {
  return run(input.context, task, signal).catch((err: unknown): JobOutcome => {
    const e = err as { code?: string; message?: string };
    return { outcome: 'failure', error: { code: typeof e.code === 'string' && e.code.startsWith('E_') ? e.code : 'E_INTERNAL', message: String(e.message ?? err) } };
  });
}

if (input.task) {
  const controller = new AbortController();
  parentPort?.on('message', (message) => {
    if (message === 'cancel') controller.abort(new Error('cancelled by the scheduler'));
  });
  void attempt(input.task, controller.signal).then((outcome) => {
    parentPort?.postMessage({ type: 'result', outcome } satisfies WorkerResult);
    parentPort?.postMessage('done');
  });
} else {
  let current: { job: string; controller: AbortController } | undefined;
  parentPort?.on('message', (message: PoolMessage) => {
    if (message.type === 'cancel') {
      if (current?.job === message.job) current.controller.abort(new Error('cancelled by the scheduler'));
      return;
    }
    if (message.type !== 'run' || current) return; // the pool sends one attempt at a time
    const mine = { job: message.job, controller: new AbortController() };
    current = mine;
    void attempt(message.task, mine.controller.signal).then((outcome) => {
      current = undefined;
      parentPort?.postMessage({ type: 'result', job: mine.job, outcome } satisfies WorkerResult);
    });
  });
}
