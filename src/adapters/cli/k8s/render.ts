import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import type { CliServices } from '../context.js';
import { renderCronJobs } from '../../k8s/cron-jobs.js';

export class K8sRenderCommand extends BaseCommand {
  static override paths = [['k8s', 'render']];
  static override usage = Command.Usage({
    category: 'Schedules',
    description: 'Print one Kubernetes CronJob per schedule (concurrencyPolicy Forbid, secrets from a Secret)',
    details: `
      An alternative to the daemon and to fleet mode where Kubernetes runs the schedules: each
      schedule becomes a CronJob that runs its task (backup, prune or verify) in a pod, never two
      at once (concurrencyPolicy: Forbid), in the schedule's time zone. The config file comes from
      a ConfigMap (key dbbackup.yaml); secrets come from a Secret as environment variables, which
      the config names as \`\${VAR}\` (and DBBACKUP_MASTER_KEY for enc: values). Nothing secret is
      printed. Kubernetes cron has no seconds: 6-field schedules are refused. Missed runs and
      history are Kubernetes' (startingDeadlineSeconds: 1h; kubectl get jobs).
    `,
    examples: [['Render and apply', '$0 k8s render --image registry.example/dbbackup:1.4 --namespace backups | kubectl apply -f -']],
  });

  image = Option.String('--image', { required: true, description: 'The container image that holds dbbackup' });
  namespace = Option.String('--namespace', { description: 'The namespace of the CronJobs' });
  configMap = Option.String('--config-map', 'dbbackup-config', { description: 'ConfigMap with the config file, key dbbackup.yaml (default dbbackup-config)' });
  secret = Option.String('--secret', 'dbbackup-secrets', { description: 'Secret whose keys become the environment (default dbbackup-secrets)' });

  protected async run(services: CliServices): Promise<number> {
    const schedules = (await services.manageSchedules.list()).map((v) => {
      let repository: string | undefined;
      try {
        repository = services.settings.source(v.source).repositories[0]?.url;
      } catch {
        repository = undefined;
      }
      return { name: v.name, cron: v.cron, timezone: v.timezone, task: v.task, source: v.source, kind: v.kind, enabled: v.enabled, repository };
    });
    const docs = renderCronJobs(schedules, { image: this.image, namespace: this.namespace, configMap: this.configMap, secret: this.secret, profile: this.profile });
    if (this.json) this.context.stdout.write(`${JSON.stringify({ ok: true, items: docs }, null, 2)}\n`);
    else {
      // Loaded here, not at the top: every other command would pay for parsing the YAML package.
      const { stringify } = await import('yaml');
      this.context.stdout.write(docs.map((d) => stringify(d)).join('---\n'));
    }
    return this.ok();
  }
}
