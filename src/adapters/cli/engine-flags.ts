import { type CommonFlag, type ConnectorPlugin, type PluginOptionType, type PluginVerb, optionKey, optionTakenBy } from '../../application/ports/connector-plugin.js';

export type DatabaseVerb = PluginVerb;

/** One engine-specific CLI flag: an option that one or more built-in plugins declare. */
export interface EngineFlag {
  /** The ConnectionTarget.options key (`sslMode`). */
  key: string;
  /** `--ssl-mode` then its aliases. */
  flags: string[];
  type: PluginOptionType;
  description: string;
  /** The engines that declare it. */
  engines: string[];
}

/**
 * Clipanion needs every flag when a command class registers, before any config or package is
 * read. So the composition root declares the built-in plugins here first, and `backup`/`restore`/
 * `replicate` get one flag per option they declare (the union over engines); a plugin found later (installed or
 * configured) takes its options as `--option NAME=VALUE` or from the config's source keys.
 */
let declared: readonly ConnectorPlugin[] = [];

export function declareEngineFlags(plugins: readonly ConnectorPlugin[]): void {
  declared = plugins;
}

/** The plugins known when the CLI was built (the built-in ones). */
export function declaredPlugins(): readonly ConnectorPlugin[] {
  return declared;
}

/** The engine-specific flags of `verb`, merged by option key. */
export function engineFlags(verb: DatabaseVerb): EngineFlag[] {
  const byKey = new Map<string, EngineFlag>();
  for (const plugin of declared) {
    for (const o of plugin.options) {
      if (!optionTakenBy(o, verb)) continue;
      const key = optionKey(o.name);
      const flags = [o.name, ...(o.aliases ?? [])].map((f) => `--${f}`);
      const known = byKey.get(key);
      if (known) {
        for (const f of flags) if (!known.flags.includes(f)) known.flags.push(f);
        known.engines.push(plugin.engine);
      } else {
        byKey.set(key, { key, flags, type: o.type, description: o.description, engines: [plugin.engine] });
      }
    }
  }
  return [...byKey.values()];
}

/** `flag` with the engines' own spellings of it, as clipanion takes them (`--tables,--collections`). */
export function withAliases(flag: CommonFlag): string {
  const aliases = declared.flatMap((p) => Object.entries(p.flagAliases ?? {}).filter(([, of]) => of === flag).map(([alias]) => alias));
  return [flag, ...new Set(aliases)].join(',');
}
