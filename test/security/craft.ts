import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BIN, type CliResult } from '../helpers/cli.js';

export const MiB = 1 << 20;
/** The peak resident set a CLI child may reach on any crafted input (issue 18: ≤ 300 MB). */
export const PEAK_RSS_LIMIT = 300 * 1000 * 1000;

const REPORTER = pathToFileURL(fileURLToPath(new URL('./report-peak-rss.mjs', import.meta.url))).href;

/** Runs the built CLI as runCli does and also returns the child's peak RSS in bytes (maxRSS at exit). */
export async function runMeasured(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult & { peakRss: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'dbb-rss-'));
  const file = join(dir, 'peak');
  try {
    const result = await new Promise<CliResult>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', REPORTER, BIN, ...args], {
        cwd: options.cwd,
        env: { ...process.env, ...options.env, DBB_PEAK_RSS_FILE: file },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
    const peakRss = Number(await readFile(file, 'utf8').catch(() => 'NaN'));
    return { ...result, peakRss };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface ManifestPart {
  name: string;
  rawSize: number;
  storedSize: number;
  sha256: string;
  rawSha256?: string;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Does what an attacker with write access to a repository folder would: replaces the stored bytes
 * of part `name` of the backup in `backupDir` with `stored`, then fixes manifest.json's storedSize
 * and sha256 so the stored-bytes check passes. `rawSize` (default: the one recorded) is what the
 * manifest then declares for the decoded bytes.
 */
export async function replacePart(backupDir: string, name: string, stored: Buffer, rawSize?: number): Promise<void> {
  const manifestPath = join(backupDir, 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { parts: ManifestPart[] };
  const part = manifest.parts.find((p) => p.name === name);
  if (!part) throw new Error(`no part ${name} in ${manifestPath}`);
  part.storedSize = stored.length;
  part.sha256 = sha256(stored);
  if (rawSize !== undefined) part.rawSize = rawSize;
  delete part.rawSha256;
  await writeFile(join(backupDir, name), stored);
  await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
}
