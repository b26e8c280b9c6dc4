import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { fail, type Finding, ok, warn } from '../../domain/diagnosis.js';
import { isDbBackupError } from '../../domain/errors.js';
import { diagnosisOf } from '../ports/database-diagnosis.js';
import type { BlobStore } from '../ports/blob-store.js';
import { readMarker } from '../services/backup-repository.js';
import type { DoctorCheck, DoctorDeps } from './doctor-types.js';

const MiB = 1 << 20;
/** Below these, temp files of a backup or restore are likely to run out of room. */
const FREE_FAIL = 256 * MiB;
const FREE_WARN = 2048 * MiB;
/** S3, Azure and GCS refuse requests signed more than 15 minutes off their clock. */
const SKEW_WARN_MS = 60_000;
const SKEW_FAIL_MS = 14 * 60_000;
const PROBE_PREFIX = '.dbbackup-doctor/';

/** Each source: the engine's own diagnosis (connectors/<engine>/…-diagnosis.ts), else a plain connection test. */
const databases: DoctorCheck = {
  name: 'databases',
  async run(input, deps, signal) {
    const out: Finding[] = [];
    for (const s of input.sources) {
      const subject = `source ${s.name}`;
      try {
        const connector = await deps.connectors.get(s.target.engine);
        if (s.incremental && !connector.capabilities.incremental) {
          out.push(fail(subject, 'incremental', `the config takes incremental backups of it, but the ${s.target.engine} engine has none`, 'Use type: full in its schedules.'));
        }
        const diagnosis = diagnosisOf(connector);
        if (diagnosis) {
          out.push(...(await diagnosis.diagnose(s.target, { subject, incremental: s.incremental, source: s.name, ...(s.slotWarnBytes !== undefined ? { slotWarnBytes: s.slotWarnBytes } : {}), ...(s.intervalMs !== undefined ? { intervalMs: s.intervalMs } : {}) }, signal)));
          continue;
        }
        const session = await connector.connect(s.target, 'backup');
        try {
          await session.test();
        } finally {
          await session.close();
        }
        out.push(ok(subject, 'reachability', `${s.target.engine}: reachable (the engine has no further checks)`));
      } catch (err) {
        out.push(fail(subject, 'reachability', describe(err), connectionFix(err)));
      }
    }
    return out;
  },
};

/** Each target: opens, holds a dbbackup repository (or none yet), takes a probe object's write, read and delete; the storage's clock. */
const targets: DoctorCheck = {
  name: 'targets',
  async run(input, deps) {
    const out: Finding[] = [];
    for (const t of input.targets) {
      const subject = `target ${t.name}`;
      if (/\.(tar\.gz|tgz|zip)$/i.test(t.url)) {
        out.push(ok(subject, 'probe', 'a single-file archive: each backup writes it whole'));
        continue;
      }
      let repo;
      try {
        repo = await deps.opener.open(t.url, 'write');
      } catch (err) {
        out.push(fail(subject, 'reachability', describe(err), accessFix(t.url)));
        continue;
      }
      try {
        try {
          const marker = await readMarker(repo.store);
          out.push(ok(subject, 'repository', marker ? `a dbbackup repository at ${repo.store.location}` : `${repo.store.location} holds no repository yet (the first backup sets it up)`));
        } catch (err) {
          out.push(fail(subject, 'repository', describe(err), 'Point the target at an empty place or a dbbackup repository.'));
        }
        out.push(...(await probe(subject, repo.store, t.url, deps)));
      } finally {
        await repo.close().catch(() => undefined);
      }
    }
    return out;
  },
};

/** Writes, reads back and deletes a small random object; the object's stored time against ours gives the clock skew. */
async function probe(subject: string, store: BlobStore, url: string, deps: DoctorDeps): Promise<Finding[]> {
  const key = `${PROBE_PREFIX}probe-${randomBytes(6).toString('hex')}`;
  const bytes = randomBytes(1024);
  let step = 'write';
  try {
    const before = deps.clock.now().getTime();
    await store.put(key, Readable.from([bytes]), { size: bytes.length });
    const after = deps.clock.now().getTime();
    step = 'read';
    const info = await store.stat(key);
    const back = await readAtMost(await store.get(key), 4096);
    if (!info || !back.equals(bytes)) {
      return [fail(subject, 'probe', `the probe object ${key} read back ${back.length} bytes that differ from the ${bytes.length} written`, 'Check that nothing rewrites objects on the way (a proxy, an S3-compatible server needing checksum settings).')];
    }
    step = 'delete';
    await store.delete(key);
    if (await store.stat(key)) return [fail(subject, 'probe', `the probe object ${key} is still there after a delete`, accessFix(url, 'delete'))];
    return [ok(subject, 'probe', `write, read and delete of a probe object work in ${store.location}`), clockFinding(subject, info.modifiedAt.getTime(), before, after)];
  } catch (err) {
    if (step !== 'write') await store.delete(key).catch(() => undefined);
    return [fail(subject, 'probe', `cannot ${step} the probe object ${key}: ${describe(err)}`, accessFix(url, step))];
  }
}

/** The storage stamped the object between `before` and `after` by its clock; stamps have whole seconds. */
function clockFinding(subject: string, stamped: number, before: number, after: number): Finding {
  const skew = stamped < before - 1000 ? stamped - before : stamped > after + 1000 ? stamped - after : 0;
  const text = `${skew === 0 ? 'agrees with this machine' : `is ${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'ahead of' : 'behind'} this machine`}`;
  const fix = 'Synchronise this machine\'s clock (timedatectl set-ntp true, or chrony/ntpd).';
  if (Math.abs(skew) > SKEW_FAIL_MS) return fail(subject, 'clock', `the storage's clock ${text}: cloud storage refuses requests signed 15 minutes off`, fix);
  if (Math.abs(skew) > SKEW_WARN_MS) return warn(subject, 'clock', `the storage's clock ${text}`, fix);
  return ok(subject, 'clock', `the storage's clock ${text}`);
}

/** This machine: room for temp files and the catalog, the master key file's mode. */
const host: DoctorCheck = {
  name: 'host',
  async run(input, deps) {
    const out: Finding[] = [];
    for (const [what, path] of [
      ['temp files of backups and restores', input.tempDir],
      ['the catalog', input.dataDir],
    ] as const) {
      try {
        const free = await deps.host.freeBytes(path);
        const text = `${(free / 1024 ** 3).toFixed(1)} GiB free in ${path} (${what})`;
        const fix = `Free space there, or point ${path === input.tempDir ? 'TMPDIR' : '--data-dir / DBBACKUP_DATA_DIR'} at a larger disk.`;
        out.push(free < FREE_FAIL ? fail('host', 'free-space', text, fix) : free < FREE_WARN ? warn('host', 'free-space', text, fix) : ok('host', 'free-space', text));
      } catch (err) {
        out.push(fail('host', 'free-space', `cannot tell the free space in ${path}: ${describe(err)}`, `Create ${path} or make it readable.`));
      }
    }
    out.push(...(await masterKey(input.masterKey, deps)));
    return out;
  },
};

async function masterKey(key: { file: string; fromEnv: boolean; needed: boolean }, deps: DoctorDeps): Promise<Finding[]> {
  if (key.fromEnv) return [ok('host', 'master-key', 'the master key comes from DBBACKUP_MASTER_KEY')];
  const mode = await deps.host.fileMode(key.file);
  if (mode === undefined) {
    if (!key.needed) return [];
    return [fail('host', 'master-key', `the config has enc: secrets but there is no master key file ${key.file}`, 'Set DBBACKUP_MASTER_KEY or put the key file back (a new `dbbackup secret init` key cannot decrypt the old secrets).')];
  }
  const octal = `0${mode.toString(8).padStart(3, '0')}`;
  if (mode & 0o077) return [fail('host', 'master-key', `the master key file ${key.file} has mode ${octal}: others on this machine may read it`, `chmod 600 ${key.file}`)];
  return [ok('host', 'master-key', `the master key file ${key.file} has mode ${octal}`)];
}

/** Each schedule of the sources: the scheduler's last successful run. */
const schedules: DoctorCheck = {
  name: 'schedules',
  async run(input, deps) {
    if (input.schedules.length === 0) return [];
    const out: Finding[] = [];
    let history;
    try {
      history = await deps.history();
    } catch (err) {
      return [fail('scheduler', 'history', `cannot read the scheduler's history: ${describe(err)}`, 'Check --data-dir / DBBACKUP_DATA_DIR (the catalog holds the history).')];
    }
    for (const s of input.schedules) {
      const subject = `schedule ${s.name} (source ${s.source})`;
      const runs = await history.history({ schedule: s.name, limit: 200 });
      const finished = runs.filter((r) => r.outcome !== 'running' && r.outcome !== 'skipped');
      const success = finished.find((r) => r.outcome === 'success');
      const last = finished[0];
      const seeHistory = `See \`dbbackup schedule history ${s.name}\` for the errors, fix them, and check that \`dbbackup schedule run\` (or its systemd unit) is running.`;
      if (!last) out.push(warn(subject, 'last-success', 'has not run yet', 'Start the scheduler: `dbbackup schedule run`, or install it with `dbbackup schedule systemd-unit`.'));
      else if (!success) out.push(fail(subject, 'last-success', `has never succeeded (last run ${last.startedAt.toISOString()}: ${last.outcome}${last.errorCode ? ` ${last.errorCode}` : ''})`, seeHistory));
      else if (last !== success) {
        out.push(warn(subject, 'last-success', `the last run (${last.startedAt.toISOString()}) ended ${last.outcome}${last.errorCode ? ` ${last.errorCode}` : ''}; the last success was ${success.startedAt.toISOString()}`, seeHistory));
      } else out.push(ok(subject, 'last-success', `last successful run ${success.startedAt.toISOString()}${success.backupId ? ` (${success.backupId})` : ''}`));
    }
    return out;
  },
};

/** The checks `doctor` runs, in this order. A new check (e.g. a PostgreSQL slot's lag) is one more entry here or in an engine's own list. */
export const DOCTOR_CHECKS: readonly DoctorCheck[] = [databases, targets, host, schedules];

async function readAtMost(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      break;
    }
  }
  return Buffer.concat(chunks);
}

function describe(err: unknown): string {
  return isDbBackupError(err) ? `${err.code}: ${err.message}` : ((err as Error)?.message ?? String(err));
}

function connectionFix(err: unknown): string {
  if (isDbBackupError(err, 'E_AUTH')) return 'Check the user and its password (the config\'s password, --password-env or the engine\'s password file).';
  if (isDbBackupError(err, 'E_CONN_REFUSED')) return 'Check the host and port, that the server runs, and that its firewall and pg_hba.conf / user host let this machine in.';
  return 'Fix what the message names; rerun with --verbose for details.';
}

/** The permission to grant for `step`, worded for the target's kind of storage. */
function accessFix(url: string, step = 'write'): string {
  if (url.startsWith('s3://')) return `Allow s3:PutObject, s3:GetObject, s3:DeleteObject and s3:ListBucket on this bucket and prefix to these credentials (the ${step} failed).`;
  if (url.startsWith('gs://')) return `Grant roles/storage.objectAdmin on the bucket (or objectCreator + objectViewer + storage.objects.delete) (the ${step} failed).`;
  if (url.startsWith('azure://')) return `Assign "Storage Blob Data Contributor" on the container to this identity, or use a key or SAS that allows it (the ${step} failed).`;
  return `Make the folder exist and be writable by this user (the ${step} failed).`;
}
