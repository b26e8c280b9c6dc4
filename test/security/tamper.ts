import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest, PartEntry } from '../../src/domain/manifest.js';

/**
 * What someone who can write to a repository but holds no key can do: change a part and fix its
 * sizes and checksums in manifest.json, so that `verify` calls the backup intact. Parts must be
 * stored as is (`--compress none`, no encryption).
 */
export async function backupFolder(repo: string, id: string): Promise<string> {
  for (const source of await readdir(repo)) {
    const folder = join(repo, source, id);
    if ((await readdir(join(repo, source)).catch(() => [] as string[])).includes(id)) return folder;
  }
  throw new Error(`backup ${id} not found in ${repo}`);
}

export async function readManifest(folder: string): Promise<Manifest> {
  return JSON.parse(await readFile(join(folder, 'manifest.json'), 'utf8')) as Manifest;
}

export async function writeManifest(folder: string, manifest: Manifest): Promise<void> {
  await writeFile(join(folder, 'manifest.json'), JSON.stringify(manifest, null, 2));
}

/** Rewrites the first part `which` picks with `edit` and makes the manifest agree with the new bytes. */
export async function tamperPart(folder: string, which: (p: PartEntry) => boolean, edit: (bytes: Buffer) => Buffer | Promise<Buffer>): Promise<void> {
  const manifest = await readManifest(folder);
  const part = manifest.parts.find(which);
  if (!part) throw new Error(`no such part in ${folder}`);
  if (part.codecs.length) throw new Error(`part ${part.name} is encoded (${part.codecs.join(', ')}); back up with --compress none`);
  const bytes = await edit(await readFile(join(folder, part.name)));
  await writeFile(join(folder, part.name), bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  part.sha256 = sha256;
  if (part.rawSha256 !== undefined) part.rawSha256 = sha256;
  part.rawSize = bytes.length;
  part.storedSize = bytes.length;
  await writeManifest(folder, manifest);
}

/** Edits a text part (SQL, JSON) as a string. */
export function tamperText(folder: string, which: (p: PartEntry) => boolean, edit: (text: string) => string): Promise<void> {
  return tamperPart(folder, which, (b) => Buffer.from(edit(b.toString('utf8')), 'utf8'));
}
