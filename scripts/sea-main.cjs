// The single executable's embedded entry point (CommonJS: what Node 20 runs from the blob). It
// unpacks the files carried as assets (the bundled CLI, its migrations, the native addons and the
// few packages that start worker threads from their own files) once into a per-version cache
// folder, then runs the CLI from there with Node's ordinary module loader.
const { createHash, randomBytes } = require('node:crypto');
const { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { homedir } = require('node:os');
const { dirname, join } = require('node:path');
const sea = require('node:sea');

const index = JSON.parse(sea.getAsset('files.json', 'utf8'));
const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
const root = join(base, 'dbbackup', 'sea', `${index.version}-${index.id}`);

if (!existsSync(join(root, '.complete'))) {
  // Unpacked beside and renamed into place: two first runs at once never see half a folder.
  const fresh = `${root}.tmp-${randomBytes(4).toString('hex')}`;
  mkdirSync(fresh, { recursive: true, mode: 0o700 });
  try {
    const hash = createHash('sha256');
    for (const file of index.files) {
      const bytes = Buffer.from(sea.getRawAsset(file));
      hash.update(file).update(bytes);
      mkdirSync(dirname(join(fresh, file)), { recursive: true, mode: 0o700 });
      writeFileSync(join(fresh, file), bytes, { mode: 0o600 });
    }
    if (hash.digest('hex').slice(0, 16) !== index.id) throw new Error('the files carried in this executable are damaged');
    writeFileSync(join(fresh, '.complete'), '');
    try {
      renameSync(fresh, root);
    } catch (err) {
      if (!existsSync(join(root, '.complete'))) throw err;
    }
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
}
createRequire(join(root, 'sea-loader.cjs'))(join(root, 'sea-loader.cjs'));
