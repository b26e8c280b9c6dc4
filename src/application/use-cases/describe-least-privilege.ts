import { DbBackupError } from '../../domain/errors.js';
import type { ConnectionTarget } from '../ports/connection-target.js';
import type { ConnectorRegistry } from '../ports/connector-registry.js';
import { diagnosisOf } from '../ports/database-diagnosis.js';

export interface LeastPrivilegeInput {
  /** Engines named by `--db`: their scripts with placeholder names. */
  engines: string[];
  /** Configured sources: their engine's script for their database. */
  sources: { name: string; target: ConnectionTarget }[];
  targets: { name: string; url: string }[];
}

export interface PrivilegeScript {
  title: string;
  text: string;
}

/** `doctor --print-grants`: the least privileges a backup and a restore need, per engine and per target. */
export class DescribeLeastPrivilege {
  constructor(private readonly deps: { connectors: ConnectorRegistry; storagePolicy: (url: string) => string }) {}

  async execute(input: LeastPrivilegeInput): Promise<PrivilegeScript[]> {
    const out: PrivilegeScript[] = [];
    const script = async (engine: string, title: string, target?: ConnectionTarget) => {
      const diagnosis = diagnosisOf(await this.deps.connectors.get(engine));
      if (!diagnosis) throw new DbBackupError('E_UNSUPPORTED', `The ${engine} engine has no least-privilege script yet; see its documentation for a read-only role.`);
      out.push({ title, text: diagnosis.grants(target) });
    };
    for (const engine of input.engines) await script(engine, `engine ${engine}`);
    for (const s of input.sources) await script(s.target.engine, `source ${s.name} (${s.target.engine})`, s.target);
    for (const t of input.targets) out.push({ title: `target ${t.name} (${t.url})`, text: this.deps.storagePolicy(t.url) });
    return out;
  }
}
