// Runs inside a private mount namespace (`unshare -rm node full-disk-run.mjs SPEC`): mounts a tmpfs
// of the given size on spec.mnt, runs the CLI steps in order (a step may first grow the tmpfs), and
// prints, as JSON, each step's exit code, stderr and the files left on the tmpfs. The tmpfs is gone
// when the namespace ends, so everything about it is looked at here.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const spec = JSON.parse(process.argv[2]);
const mount = (size, remount) =>
  execFileSync('mount', ['-t', 'tmpfs', '-o', `${remount ? 'remount,' : ''}size=${size},mode=0700`, 'tmpfs', spec.mnt], { stdio: 'pipe' });

function files(dir, base = dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p, base));
    else {
      const size = statSync(p).size;
      const sha256 = spec.hash && size < 8 << 20 ? createHash('sha256').update(readFileSync(p)).digest('hex') : undefined;
      out.push({ path: p.slice(base.length + 1), size, sha256 });
    }
  }
  return out;
}

mkdirSync(spec.mnt, { recursive: true });
mount(spec.size, false);
for (const d of spec.dirs ?? []) mkdirSync(join(spec.mnt, d), { recursive: true });
for (const [from, to] of spec.copies ?? []) copyFileSync(from, join(spec.mnt, to));
const steps = [];
for (const step of spec.steps) {
  if (step.grow) mount(step.grow, true);
  const r = spawnSync(process.execPath, [spec.bin, ...step.args], { cwd: spec.cwd, env: { ...process.env, ...step.env }, encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL' });
  steps.push({ code: r.status, stdout: r.stdout, stderr: r.stderr, files: files(spec.mnt) });
}
process.stdout.write(JSON.stringify(steps));
