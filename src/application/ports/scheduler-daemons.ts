export interface DaemonInfo {
  owner: string;
  host: string;
  pid: number;
  startedAt: Date;
  heartbeatAt: Date;
  /** 'worker' for a fleet worker (`dbbackup worker`); undefined for a `schedule run` daemon. */
  role?: 'worker';
}

/** The `schedule run` daemons working on one catalog (heartbeats renew them, see ScheduleLocks). */
export interface SchedulerDaemons {
  /** Registers or renews a running daemon. */
  registerDaemon(info: DaemonInfo): Promise<void>;
  /** Removes a daemon's record (clean stop, or a dead daemon reaped); no-op if there is none. */
  unregisterDaemon(owner: string): Promise<void>;
  /** The daemons registered, in no promised order. */
  daemons(): Promise<DaemonInfo[]>;
}
