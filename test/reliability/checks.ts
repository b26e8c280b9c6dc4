// What must hold after any kill or damage, checked in-process against the repository and the
// catalog (fast, so a trial's time goes to the operation it kills): each returns its problems.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MapCodecRegistry } from '../../src/adapters/compression/codec-registry.js';
import { GzipCodec } from '../../src/adapters/compression/gzip-codec.js';
import { NoneCodec } from '../../src/adapters/compression/none-codec.js';
import { ZstdCodec } from '../../src/adapters/compression/zstd-codec.js';
import { DrizzleBackupCatalog } from '../../src/adapters/catalog/drizzle-backup-catalog.js';
import { LocalRepositoryOpener } from '../../src/adapters/storage/repository-opener.js';
import { verifyParts } from '../../src/application/pipeline/part-reader.js';
import { scanRepository } from '../../src/application/services/backup-repository.js';
import { isDbBackupError } from '../../src/domain/errors.js';
import { catalogFile } from '../../src/infrastructure/paths.js';
import { BIN, type CliResult } from '../helpers/cli.js';
import { spawnWatched } from './cli-watch.js';

export const codecs = new MapCodecRegistry([new ZstdCodec(), new GzipCodec(), new NoneCodec()]);
const opener = new LocalRepositoryOpener();

/**
 * Every backup the repository (folder or archive) lists verifies, part by part, decoded; no
 * manifest is half-written (a damaged one is a backup listed incompletely). `expectIds` are ids that
 * must be there. Returns the listed ids and the problems.
 */
export async function checkRepository(
  location: string,
  options: { expectIds?: string[]; opener?: LocalRepositoryOpener; storedOnly?: boolean } = {},
): Promise<{ ids: string[]; problems: string[] }> {
  const problems: string[] = [];
  // `opener`: one that reaches cloud repositories (its storage settings); `storedOnly`: encrypted
  // backups, checked by the stored bytes' hashes (no key here).
  const repo = await (options.opener ?? opener).open(location, 'read');
  try {
    const { manifests, damaged } = await scanRepository(repo.store);
    for (const d of damaged) problems.push(`a half-written or damaged manifest is in the repository: ${d.key} (${d.error.code})`);
    for (const m of manifests) {
      const bad = (await verifyParts(repo.store, m, codecs, undefined, AbortSignal.timeout(120_000), undefined, options.storedOnly)).filter((c) => !c.ok);
      for (const b of bad) problems.push(`listed backup ${m.id} does not verify: ${b.part} ${b.code} ${b.message}`);
    }
    const ids = manifests.map((m) => m.id);
    for (const id of options.expectIds ?? []) if (!ids.includes(id)) problems.push(`backup ${id} is missing from ${location}`);
    return { ids, problems };
  } finally {
    await repo.close();
  }
}

/** The catalog opens and every backup it lists in `repository` exists there (listed ⇒ verifies, checked above). */
export async function checkCatalog(dataDir: string, repository: string, repositoryIds: string[]): Promise<string[]> {
  const problems: string[] = [];
  let catalog: DrizzleBackupCatalog | undefined;
  try {
    catalog = new DrizzleBackupCatalog(catalogFile(dataDir));
    for (const b of await catalog.list({ repository })) {
      if (!repositoryIds.includes(b.id)) problems.push(`the catalog lists ${b.id} (${b.status}), which the repository does not hold complete`);
    }
  } catch (err) {
    problems.push(`the catalog does not open: ${isDbBackupError(err) ? err.code : ''} ${(err as Error).message}`);
  } finally {
    catalog?.close();
  }
  return problems;
}

/** A CLI run as a user's: exit code, one `error E_…` line and no stack trace on failure. */
export function cliShapeProblems(r: CliResult, allowed: number[]): string[] {
  const problems: string[] = [];
  if (!allowed.includes(r.code)) problems.push(`exit ${r.code}, expected one of ${allowed.join('/')}: ${r.stderr.slice(0, 400)}`);
  if (r.code !== 0) {
    const errors = r.stderr.split('\n').filter((l) => /^error /.test(l));
    if (errors.length !== 1 || !/^error E_[A-Z_]+: /.test(errors[0]!)) problems.push(`not one "error E_…" line: ${r.stderr.slice(0, 400)}`);
  }
  if (/\n\s+at .+:\d+:\d+\)?$/m.test(r.stderr)) problems.push(`a stack trace: ${r.stderr.slice(0, 400)}`);
  return problems;
}

/** Files a killed run left behind in `dir` under a temp name (`*.dbbackup-tmp-*`, `dbbackup-*` scratch folders). */
export async function strays(dir: string): Promise<string[]> {
  const names = (await readdir(dir, { recursive: true }).catch(() => [] as string[])).map(String);
  return names.filter((n) => /dbbackup-tmp-|(^|\/)dbbackup-sqlite-/.test(n)).map((n) => join(dir, n));
}

/**
 * Starts the built CLI and SIGKILLs it after `afterMs` (if it is still running). Resolves with how
 * it ended: killed, or its exit code when it finished first.
 */
export async function runAndKill(args: string[], env: NodeJS.ProcessEnv, cwd: string, afterMs: number): Promise<{ killed: boolean; code: number | null }> {
  const { child, done } = spawnWatched(process.execPath, [BIN, ...args], { cwd, env, output: 'ignore' });
  const timer = setTimeout(() => child.kill('SIGKILL'), afterMs);
  const r = await done.finally(() => clearTimeout(timer));
  return { killed: r.signal === 'SIGKILL' && !r.overrun, code: r.signal ? null : r.code };
}
