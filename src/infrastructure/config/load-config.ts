import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir, platform } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { LineCounter, Node } from 'yaml';
import { DbBackupError } from '../../domain/errors.js';
import { formatIssues, suggest } from './errors-format.js';
import type { ConfigFile, ConfigSection, EngineKeys } from './schema.js';

export interface LoadedConfig {
  /** The file read, or undefined when there is none (everything comes from flags, env, defaults). */
  path: string | undefined;
  file: ConfigFile;
  profile: string | undefined;
  /** Shared sections with the chosen profile merged over them. */
  section: ConfigSection;
  /** Where each merged leaf came from: dotted path → `file:line`. */
  origins: Map<string, string>;
  /** Dotted paths whose value came from `${VAR}` interpolation, with the variables used. */
  interpolated: Map<string, string[]>;
}

/** Where the config is: --config > DBBACKUP_CONFIG > ./dbbackup.yaml|yml|json > the platform config folder. */
export function findConfigFile(explicit: string | undefined, env: NodeJS.ProcessEnv, cwd = process.cwd()): string | undefined {
  if (explicit) return resolve(cwd, explicit);
  if (env.DBBACKUP_CONFIG) return resolve(cwd, env.DBBACKUP_CONFIG);
  for (const name of ['dbbackup.yaml', 'dbbackup.yml', 'dbbackup.json']) {
    if (existsSync(join(cwd, name))) return join(cwd, name);
  }
  const dir = configDir(env);
  for (const name of ['config.yaml', 'config.yml', 'config.json']) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

export function configDir(env: NodeJS.ProcessEnv): string {
  if (platform() === 'darwin') return join(homedir(), 'Library', 'Application Support', 'dbbackup');
  if (platform() === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'dbbackup');
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'dbbackup');
}

/** The engines a config may name, with their source keys; asked with the engines and `plugins:` the file names. */
export type EngineResolver = (used: { engines: string[]; plugins: string[]; baseDir: string }) => Promise<EngineKeys>;

/** `engines`: the engines (their plugins' options) sources may name; any engine, common keys only, when not given. */
export async function loadConfig(options: { path?: string; profile?: string; env: NodeJS.ProcessEnv; engines?: EngineKeys | EngineResolver }): Promise<LoadedConfig> {
  const { path, env } = options;
  if (!path) return pick({ path: undefined, file: {}, lines: new Map(), interpolated: new Map() }, options.profile ?? env.DBBACKUP_PROFILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new DbBackupError('E_CONFIG', `Cannot read the config file ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (err as Error).message}.`);
  }
  // The YAML parser (like zod below) loads only when there is a file: commands without one start faster.
  const yaml = await import('yaml');
  const lineCounter = new yaml.LineCounter();
  const doc = yaml.parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new DbBackupError('E_CONFIG', `${path} is not valid YAML/JSON:\n  ${doc.errors.map((e) => e.message.split('\n')[0]).join('\n  ')}`);
  }
  const lines = new Map<string, number>();
  collectLines(yaml, doc.contents, [], lines, lineCounter);
  const raw: unknown = doc.toJS() ?? {};
  const interpolated = new Map<string, string[]>();
  const problems: string[] = [];
  const data = interpolate(raw, [], env, interpolated, problems);
  const engines = typeof options.engines === 'function' ? await options.engines({ ...namedEngines(data), baseDir: dirname(path) }) : options.engines;
  const { ConfigSchema, SectionSchema } = (await import('./schema.js')).configSchemas(engines);
  const parsed = ConfigSchema.safeParse(data);
  if (!parsed.success) problems.push(...formatIssues(parsed.error.issues, ConfigSchema, data));
  if (problems.length) {
    const withLines = problems.map((p) => {
      const at = p.slice(0, p.indexOf(':'));
      const line = lines.get(at) ?? lines.get(at.split('.').slice(0, -1).join('.'));
      return line ? `${p} (line ${line})` : p;
    });
    throw new DbBackupError('E_CONFIG', `${path} has ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n  ${withLines.join('\n  ')}`, {
      details: { problems },
    });
  }
  return pick({ path, file: parsed.data!, lines, interpolated }, options.profile ?? env.DBBACKUP_PROFILE, SectionSchema);
}

/** The engines the file's sources name (shared and per profile) and its `plugins:` entries. */
function namedEngines(data: unknown): { engines: string[]; plugins: string[] } {
  const file = (data ?? {}) as { sources?: unknown; profiles?: unknown; plugins?: unknown };
  const sections = [file, ...Object.values((file.profiles ?? {}) as Record<string, unknown>)] as { sources?: unknown }[];
  const engines = sections.flatMap((s) => Object.values((s?.sources ?? {}) as Record<string, { engine?: unknown }>).map((src) => src?.engine));
  const plugins = Array.isArray(file.plugins) ? file.plugins.filter((p): p is string => typeof p === 'string') : [];
  return { engines: [...new Set(engines.filter((e): e is string => typeof e === 'string'))], plugins };
}

function pick(
  c: { path: string | undefined; file: ConfigFile; lines: Map<string, number>; interpolated: Map<string, string[]> },
  requested: string | undefined,
  sectionSchema?: ReturnType<typeof import('./schema.js').configSchemas>['SectionSchema'],
): LoadedConfig {
  const profiles = c.file.profiles ?? {};
  const profile = requested ?? c.file['default-profile'];
  if (profile !== undefined && !(profile in profiles)) {
    const names = Object.keys(profiles);
    const hint = suggest(profile, names);
    throw new DbBackupError(
      'E_CONFIG',
      `No profile "${profile}" in ${c.path ?? 'the configuration (no config file was found)'}` +
        (names.length ? `; profiles: ${names.join(', ')}${hint ? ` (did you mean "${hint}"?)` : ''}.` : '.'),
    );
  }
  const { profiles: _p, 'data-dir': _d, 'default-profile': _dp, 'master-key-file': _m, plugins: _pl, ...shared } = c.file;
  const origins = new Map<string, string>();
  const where = (p: string) => (c.path && c.lines.has(p) ? `${c.path}:${c.lines.get(p)}` : (c.path ?? 'config'));
  const merged = mergeSections(shared, [], profile ? profiles[profile]! : undefined, profile ? ['profiles', profile] : [], origins, where);
  // A profile's partial overrides must add up to complete sources and targets.
  if (!sectionSchema) return { path: c.path, file: c.file, profile, section: merged as ConfigSection, origins, interpolated: c.interpolated };
  const checked = sectionSchema.safeParse(merged);
  if (!checked.success) {
    const problems = formatIssues(checked.error.issues, sectionSchema, merged);
    throw new DbBackupError(
      'E_CONFIG',
      `${c.path ?? 'The configuration'}${profile ? ` with profile ${profile}` : ''} is incomplete:\n  ${problems.join('\n  ')}`,
      { details: { problems } },
    );
  }
  const section = checked.data;
  for (const key of ['data-dir', 'default-profile', 'master-key-file']) if (c.lines.has(key)) origins.set(key, where(key));
  return { path: c.path, file: c.file, profile, section, origins, interpolated: c.interpolated };
}

/** Deep merge where `over` wins; arrays and scalars replace. Records each leaf's origin. */
function mergeSections(
  base: unknown,
  basePath: string[],
  over: unknown,
  overPath: string[],
  origins: Map<string, string>,
  where: (p: string) => string,
  at: string[] = [],
): unknown {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (over === undefined) {
    markOrigins(base, basePath, at, origins, where);
    return base;
  }
  if (!isObj(base) || !isObj(over)) {
    markOrigins(over, overPath, at, origins, where);
    return over;
  }
  const out: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(base), ...Object.keys(over)])) {
    out[key] = mergeSections(base[key], [...basePath, key], over[key], [...overPath, key], origins, where, [...at, key]);
  }
  return out;
}

function markOrigins(value: unknown, srcPath: string[], at: string[], origins: Map<string, string>, where: (p: string) => string): void {
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) markOrigins(v, [...srcPath, k], [...at, k], origins, where);
    if (Array.isArray(value) && at.length) origins.set(at.join('.'), where(srcPath.join('.')));
  } else if (value !== undefined) {
    origins.set(at.join('.'), where(srcPath.join('.')));
  }
}

function collectLines(yaml: typeof import('yaml'), node: Node | null | undefined, path: string[], out: Map<string, number>, lc: LineCounter): void {
  const { isMap, isPair, isScalar, isSeq } = yaml;
  if (!node) return;
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair) || !isScalar(pair.key)) continue;
      const key = [...path, String(pair.key.value)];
      if (pair.key.range) out.set(key.join('.'), lc.linePos(pair.key.range[0]).line);
      collectLines(yaml, pair.value as Node, key, out, lc);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const key = [...path, String(i)];
      const n = item as Node;
      if (n?.range) out.set(key.join('.'), lc.linePos(n.range[0]).line);
      collectLines(yaml, n, key, out, lc);
    });
  }
}

/** `${VAR}`, `${VAR:-default}`; `$${` stays a literal `${`. Unset variables without a default are errors. */
export function interpolate(value: unknown, path: string[], env: NodeJS.ProcessEnv, used: Map<string, string[]>, problems: string[]): unknown {
  if (typeof value === 'string') {
    const vars: string[] = [];
    const out = value.replace(/\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (whole, escaped: string | undefined, name: string, fallback: string | undefined) => {
      if (escaped) return whole.slice(1);
      vars.push(name);
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      problems.push(`${path.join('.')}: environment variable ${name} is not set (use \${${name}:-default} for a default)`);
      return '';
    });
    if (vars.length) used.set(path.join('.'), vars);
    return out;
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, [...path, String(i)], env, used, problems));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, [...path, k], env, used, problems)]));
  }
  return value;
}
