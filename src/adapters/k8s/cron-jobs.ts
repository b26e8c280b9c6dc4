import { DbBackupError } from '../../domain/errors.js';
import type { ScheduleTask } from '../../domain/schedule.js';

/** One schedule as Kubernetes needs it. */
export interface K8sSchedule {
  name: string;
  cron: string;
  timezone: string;
  task: ScheduleTask;
  source: string;
  kind?: string;
  enabled: boolean;
  /** The source's first repository (verify reads its latest backup there). */
  repository?: string;
}

export interface K8sOptions {
  image: string;
  namespace?: string;
  /** The ConfigMap holding the config file (key `dbbackup.yaml`), mounted at /etc/dbbackup. */
  configMap: string;
  /** The Secret whose keys become environment variables: `${VAR}` values of the config, DBBACKUP_MASTER_KEY, cloud credentials. */
  secret: string;
  profile?: string;
}

type Manifest = Record<string, unknown>;

const CONFIG_DIR = '/etc/dbbackup';

/**
 * One CronJob per schedule: `concurrencyPolicy: Forbid` (Kubernetes' form of "never overlaps
 * itself"), the schedule's zone as `timeZone`, the config from a ConfigMap and every secret from a
 * Secret (as environment variables: the config refers to them as `${VAR}`), never inline. Kubernetes
 * cron has no seconds field: a 6-field schedule is refused (E_USAGE), as is a name that is not a
 * DNS label once lower-cased.
 */
export function renderCronJobs(schedules: K8sSchedule[], o: K8sOptions): Manifest[] {
  return schedules.map((s) => {
    const fields = s.cron.trim().split(/\s+/);
    if (!s.cron.trim().startsWith('@') && fields.length !== 5) {
      throw new DbBackupError('E_USAGE', `Schedule "${s.name}": Kubernetes cron has no seconds field; give it 5 fields ("${s.cron}").`);
    }
    const name = `dbbackup-${s.name.toLowerCase().replace(/[._]/g, '-')}`;
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 52) {
      throw new DbBackupError('E_USAGE', `Schedule "${s.name}": "${name}" is not a valid CronJob name (lower-case letters, digits and '-', at most 52).`);
    }
    return {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name, ...(o.namespace ? { namespace: o.namespace } : {}), labels: { 'app.kubernetes.io/name': 'dbbackup', 'dbbackup/schedule': s.name.slice(0, 63) } },
      spec: {
        schedule: s.cron.trim(),
        timeZone: s.timezone,
        concurrencyPolicy: 'Forbid',
        suspend: !s.enabled,
        startingDeadlineSeconds: 3600,
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
          spec: {
            backoffLimit: 2,
            template: {
              metadata: { labels: { 'app.kubernetes.io/name': 'dbbackup', 'dbbackup/schedule': s.name.slice(0, 63) } },
              spec: {
                restartPolicy: 'Never',
                securityContext: { runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001 },
                containers: [
                  {
                    name: 'dbbackup',
                    image: o.image,
                    args: [...taskArgs(s), '--config', `${CONFIG_DIR}/dbbackup.yaml`, ...(o.profile ? ['--profile', o.profile] : []), '--json'],
                    env: [
                      { name: 'DBBACKUP_DATA_DIR', value: '/var/lib/dbbackup' },
                      { name: 'DBBACKUP_LOG_FILE', value: 'off' },
                    ],
                    envFrom: [{ secretRef: { name: o.secret } }],
                    volumeMounts: [
                      { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
                      { name: 'data', mountPath: '/var/lib/dbbackup' },
                    ],
                    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true },
                  },
                ],
                volumes: [
                  { name: 'config', configMap: { name: o.configMap } },
                  { name: 'data', emptyDir: {} },
                ],
              },
            },
          },
        },
      },
    };
  });
}

function taskArgs(s: K8sSchedule): string[] {
  switch (s.task) {
    case 'backup':
      return ['backup', '--source', s.source, ...(s.kind ? ['--type', s.kind] : [])];
    case 'prune':
      return ['prune', '--source', s.source];
    case 'verify':
      if (!s.repository) throw new DbBackupError('E_CONFIG', `Schedule "${s.name}" verifies source "${s.source}", which has no targets in the config.`);
      return ['verify', 'latest', '--from', s.repository, '--source', s.source];
    case 'verify-restore':
      if (!s.repository) throw new DbBackupError('E_CONFIG', `Schedule "${s.name}" verifies source "${s.source}", which has no targets in the config.`);
      // The scratch server comes from the config (sources.<name>.scratch): a URL with a password stays out of the CronJob.
      return ['verify', 'latest', '--from', s.repository, '--source', s.source, '--deep'];
  }
}
