import type { CommandClass } from 'clipanion';
import type { CliContext } from '../adapters/cli/context.js';
import { HelpCommand } from '../adapters/cli/help.js';
import { VersionCommand } from '../adapters/cli/version.js';

export type CliCommand = CommandClass<CliContext>;

/**
 * Every command's module, by the first word of its paths: a run loads the modules of the word it
 * names (each command's own imports with it), not all of them. Clipanion needs a command class
 * before it can parse its flags, and loading all of them cost a fifth of a short command's
 * start-up. A unit test checks that each class's paths start with the word it is listed under.
 */
export const COMMAND_MODULES: Readonly<Record<string, () => Promise<CliCommand[]>>> = {
  backup: async () => [(await import('../adapters/cli/backup.js')).BackupCommand],
  replicate: async () => [(await import('../adapters/cli/replicate.js')).ReplicateCommand],
  restore: async () => [(await import('../adapters/cli/restore.js')).RestoreCommand],
  list: async () => [(await import('../adapters/cli/list.js')).ListCommand],
  ls: async () => [(await import('../adapters/cli/list.js')).ListCommand],
  verify: async () => [(await import('../adapters/cli/verify.js')).VerifyCommand],
  compare: async () => [(await import('../adapters/cli/compare.js')).CompareCommand],
  prune: async () => [(await import('../adapters/cli/prune.js')).PruneCommand],
  pin: async () => [(await import('../adapters/cli/pin.js')).PinCommand],
  unpin: async () => [(await import('../adapters/cli/pin.js')).UnpinCommand],
  config: async () => {
    const m = await import('../adapters/cli/config.js');
    return [m.ConfigValidateCommand, m.ConfigShowCommand];
  },
  doctor: async () => [(await import('../adapters/cli/doctor.js')).DoctorCommand],
  'self-update': async () => [(await import('../adapters/cli/self-update.js')).SelfUpdateCommand],
  secret: async () => {
    const m = await import('../adapters/cli/secret.js');
    return [m.SecretInitCommand, m.SecretEncryptCommand];
  },
  notify: async () => [(await import('../adapters/cli/notify.js')).NotifyTestCommand],
  schedule: async () => {
    const [add, enable, history, list, remove, run, status, unit] = await Promise.all([
      import('../adapters/cli/schedule/add.js'),
      import('../adapters/cli/schedule/enable.js'),
      import('../adapters/cli/schedule/history.js'),
      import('../adapters/cli/schedule/list.js'),
      import('../adapters/cli/schedule/remove.js'),
      import('../adapters/cli/schedule/run.js'),
      import('../adapters/cli/schedule/status.js'),
      import('../adapters/cli/schedule/systemd-unit.js'),
    ]);
    return [
      add.ScheduleAddCommand,
      list.ScheduleListCommand,
      remove.ScheduleRemoveCommand,
      enable.ScheduleEnableCommand,
      enable.ScheduleDisableCommand,
      run.ScheduleRunCommand,
      status.ScheduleStatusCommand,
      history.ScheduleHistoryCommand,
      unit.ScheduleSystemdUnitCommand,
    ];
  },
  worker: async () => [(await import('../adapters/cli/worker.js')).WorkerCommand],
  fleet: async () => [(await import('../adapters/cli/fleet/status.js')).FleetStatusCommand],
  k8s: async () => [(await import('../adapters/cli/k8s/render.js')).K8sRenderCommand],
  storage: async () => [(await import('../adapters/cli/storage-usage.js')).StorageUsageCommand],
  ui: async () => [(await import('../adapters/cli/ui.js')).UiCommand],
  slot: async () => {
    const [list, drop] = await Promise.all([import('../adapters/cli/slot/list.js'), import('../adapters/cli/slot/drop.js')]);
    return [list.SlotListCommand, drop.SlotDropCommand];
  },
  key: async () => {
    const m = await import('../adapters/cli/key.js');
    return [m.KeyGenerateCommand, m.KeyListCommand, m.KeyRotateCommand, m.KeyRewrapCommand];
  },
  completion: async () => [(await import('../adapters/cli/completion.js')).CompletionCommand],
};

/** Help and version: every run has them (usage errors print help; `--version` is a flag). */
export const ALWAYS: readonly CliCommand[] = [HelpCommand, VersionCommand];

/** Every command, in the order the overview lists them. */
export async function allCommands(): Promise<CliCommand[]> {
  const loaded = await Promise.all(Object.values(COMMAND_MODULES).map((load) => load()));
  return [...new Set([...loaded.flat(), ...ALWAYS])];
}

/**
 * The commands `argv` (after helpArgv) can name: those under its first word; every command when it
 * names none (help and completion, which read every command's definition, or a typo that deserves
 * suggestions).
 */
export async function commandsFor(argv: readonly string[]): Promise<CliCommand[]> {
  const word = argv[0];
  if (VersionCommand.paths.some((p) => p[0] === word)) return [...ALWAYS];
  if (word === undefined || word === 'help' || word === 'completion' || !Object.hasOwn(COMMAND_MODULES, word)) return allCommands();
  return [...(await COMMAND_MODULES[word]!()), ...ALWAYS];
}

/**
 * For help and completion (they read every command's definition, a command's help to tell its own
 * flags from the global ones): the commands to parse `argv` with, theirs alone. Else undefined: the
 * registered commands parse it.
 */
export async function ownParser(argv: readonly string[]): Promise<CliCommand[] | undefined> {
  if (argv[0] === 'completion') return [...(await COMMAND_MODULES.completion!()), ...ALWAYS];
  if (argv[0] === 'help') return [...ALWAYS];
  return undefined;
}
