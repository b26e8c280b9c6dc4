import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DbBackupError } from '../domain/errors.js';

/** The part of the config file the foundation reads; profiles, sources and targets come later. */
const ConfigSchema = z
  .object({
    dataDir: z.string().optional(),
    defaults: z
      .object({
        compression: z.enum(['zstd', 'gzip', 'none']).optional(),
        level: z.number().int().positive().optional(),
        parallel: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
    profiles: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export type ConfigFile = z.infer<typeof ConfigSchema>;

/** Reads and validates a YAML or JSON config file; every problem is reported with its path. */
export async function loadConfigFile(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new DbBackupError('E_CONFIG', `Cannot read the config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new DbBackupError('E_CONFIG', `The config file ${path} is not valid ${/\.json$/i.test(path) ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  const parsed = ConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new DbBackupError('E_CONFIG', `The config file ${path} is invalid:\n  ${problems.join('\n  ')}`, { details: { problems } });
  }
  return parsed.data;
}
