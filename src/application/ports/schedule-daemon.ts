/** What a daemon did: runs finished, of which failed, and slots skipped. */
export interface SchedulerSummary {
  runs: number;
  failures: number;
  skipped: number;
}

/**
 * What `schedule run` starts: the local daemon (RunScheduler, jobs in worker threads) or the fleet
 * publisher (schedules become a queue's job schedulers, workers elsewhere run them). The command
 * sees only this.
 */
export interface ScheduleDaemon {
  /** Runs until `signal` aborts (or, with `once`, does what is due now); never leaves a run of its own 'running'. */
  execute(input: { once?: boolean }, signal: AbortSignal): Promise<SchedulerSummary>;
}
