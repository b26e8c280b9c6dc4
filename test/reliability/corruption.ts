// Damage a backup (a flipped byte, a truncation, a deleted or swapped part, an edited manifest) in
// a repository folder or an archive; `verify` and `restore` must both fail with exit 4 naming the
// damaged part (or manifest), and the restore must leave an existing target exactly as it was.
// An archive byte whose flip changes nothing that is read (a gzip/zip timestamp) may pass, but then
// the restore must give the source database exactly.
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from './cli-watch.js';
import { contentHashes, createNastyDatabase, Database } from '../helpers/sqlite-fixtures.js';
import { cliShapeProblems } from './checks.js';
import { pick, rng } from './harness.js';

export const DAMAGES = ['flip', 'truncate', 'delete-part', 'swap-parts', 'manifest-size', 'manifest-hash', 'manifest-raw-size', 'manifest-version', 'manifest-json', 'archive-flip', 'archive-truncate'] as const;
export type Damage = (typeof DAMAGES)[number];

interface PartInfo {
  name: string;
  storedSize: number;
  rawSize: number;
  sha256: string;
}

export async function corruptionBench(dir: string) {
  await mkdir(dir, { recursive: true });
  const env = { DBBACKUP_DATA_DIR: join(dir, 'data'), XDG_STATE_HOME: join(dir, 'state'), TMPDIR: dir };
  const cli = (...args: string[]) => runCli(args, { env, cwd: dir });
  const db = join(dir, 'source.db');
  createNastyDatabase(db);
  const expected = JSON.stringify(contentHashes(db));
  const b = await cli('backup', '--file', db, '--out', 'template', '--json');
  if (b.code !== 0) throw new Error(`template backup failed: ${b.stderr}`);
  const { id, source } = JSON.parse(b.stdout) as { id: string; source: string };
  for (const ext of ['tar.gz', 'zip']) {
    const a = await cli('backup', '--file', db, '--out', `template.${ext}`);
    if (a.code !== 0) throw new Error(`template archive failed: ${a.stderr}`);
  }
  const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

  return {
    async trial(i: number, seed: number, chosen?: Damage) {
      const random = rng(seed);
      const damage = chosen ?? pick(random, DAMAGES);
      const problems: string[] = [];
      // An existing target that the failed restore must not touch.
      const target = join(dir, `target-${i}.db`);
      const t = new Database(target);
      t.exec(`CREATE TABLE keep (x TEXT); INSERT INTO keep VALUES ('trial ${i}');`);
      t.close();
      const before = sha(await readFile(target));
      let what: string;
      let named: string[];
      let verify: string[];
      let restore: string[];
      if (damage === 'archive-flip' || damage === 'archive-truncate') {
        const ext = random() < 0.5 ? 'tar.gz' : 'zip';
        const file = join(dir, `damaged-${i}.${ext}`);
        await cp(join(dir, `template.${ext}`), file);
        const bytes = await readFile(file);
        if (damage === 'archive-flip') {
          const at = Math.floor(random() * bytes.length);
          bytes[at] ^= 1 << Math.floor(random() * 8);
          await writeFile(file, bytes);
          what = `${ext}: bit flipped at byte ${at} of ${bytes.length}`;
        } else {
          const to = Math.floor(random() * bytes.length);
          await truncate(file, to);
          what = `${ext}: truncated to ${to} of ${bytes.length} bytes`;
        }
        named = [];
        verify = ['verify', file];
        restore = ['restore', '--file', file, '--database', target, '--clean'];
      } else {
        const repo = join(dir, `damaged-${i}`);
        await cp(join(dir, 'template'), repo, { recursive: true });
        const folder = join(repo, source, id);
        const manifestPath = join(folder, 'manifest.json');
        const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { formatVersion: number; parts: PartInfo[] };
        const part = pick(random, manifest.parts);
        const partPath = join(folder, part.name);
        named = [part.name];
        if (damage === 'flip') {
          const bytes = await readFile(partPath);
          const at = Math.floor(random() * bytes.length);
          bytes[at] ^= 1 << Math.floor(random() * 8);
          await writeFile(partPath, bytes);
          what = `${part.name}: bit flipped at byte ${at} of ${bytes.length}`;
        } else if (damage === 'truncate') {
          const to = Math.floor(random() * part.storedSize);
          await truncate(partPath, to);
          what = `${part.name}: truncated to ${to} of ${part.storedSize} bytes`;
        } else if (damage === 'delete-part') {
          await rm(partPath);
          what = `${part.name}: deleted`;
        } else if (damage === 'swap-parts') {
          const other = pick(random, manifest.parts.filter((p) => p.name !== part.name));
          const [x, y] = [await readFile(partPath), await readFile(join(folder, other.name))];
          await writeFile(partPath, y);
          await writeFile(join(folder, other.name), x);
          named = [part.name, other.name];
          what = `${part.name} and ${other.name} swapped`;
        } else {
          if (damage === 'manifest-size') part.storedSize += 1 + Math.floor(random() * 100);
          else if (damage === 'manifest-hash') part.sha256 = sha(Buffer.from(`not ${part.sha256}`));
          else if (damage === 'manifest-raw-size') part.rawSize = Math.max(0, part.rawSize + (random() < 0.5 ? -1 : 1) * (1 + Math.floor(random() * 100)));
          else if (damage === 'manifest-version') {
            manifest.formatVersion = 99;
            named = ['manifest.json'];
          }
          let text = JSON.stringify(manifest, null, 2);
          if (damage === 'manifest-json') {
            text = text.slice(0, Math.floor(random() * text.length));
            named = ['manifest.json'];
          }
          await writeFile(manifestPath, text);
          what = `manifest edited (${damage}) for ${part.name}`;
        }
        verify = ['verify', '--from', repo, id];
        restore = ['restore', '--from', repo, '--backup', id, '--database', target, '--clean'];
      }
      const v = await cli(...verify);
      const r = await cli(...restore);
      const after = sha(await readFile(target).catch(() => Buffer.alloc(0)));
      let variant: string = damage;
      if (damage === 'archive-flip' && v.code === 0 && r.code === 0) {
        // A flip in a byte nothing reads: harmless only if the restore is exact.
        variant = 'archive-flip (harmless byte)';
        if (JSON.stringify(contentHashes(target)) !== expected) problems.push('verify and restore passed, but the restored database differs from the source');
      } else {
        problems.push(...cliShapeProblems(v, [4]).map((p) => `verify: ${p}`), ...cliShapeProblems(r, [4]).map((p) => `restore: ${p}`));
        for (const n of named) {
          if (!named.some((x) => v.stderr.includes(x))) problems.push(`verify does not name ${n}: ${v.stderr.slice(0, 300)}`);
          if (!named.some((x) => r.stderr.includes(x))) problems.push(`restore does not name ${n}: ${r.stderr.slice(0, 300)}`);
        }
        if (after !== before) problems.push(`the failed restore changed ${target}`);
      }
      await rm(target, { force: true });
      await rm(join(dir, `damaged-${i}`), { recursive: true, force: true });
      for (const f of await readdir(dir)) if (f.startsWith(`damaged-${i}.`)) await rm(join(dir, f), { force: true });
      return { variant, what, problems };
    },
  };
}
