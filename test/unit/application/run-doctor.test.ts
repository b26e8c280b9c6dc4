import { describe, expect, it } from 'vitest';
import type { HostProbe } from '../../../src/application/ports/host-probe.js';
import type { DoctorInput } from '../../../src/application/use-cases/doctor-types.js';
import { RunDoctor } from '../../../src/application/use-cases/run-doctor.js';
import { MapConnectorRegistry } from '../../../src/adapters/connectors/connector-registry.js';
import { doctorExitCode, type Finding } from '../../../src/domain/diagnosis.js';
import { MemoryOpener } from '../../helpers/fakes.js';
import { MemoryBlobStore } from '../../helpers/memory-blob-store.js';

const GiB = 1024 ** 3;

function host(free: number, modes: Record<string, number> = {}): HostProbe {
  return { freeBytes: async () => free, fileMode: async (p) => modes[p] };
}

const input = (over: Partial<DoctorInput> = {}): DoctorInput => ({
  sources: [],
  targets: [{ name: 't', url: 'memory://t' }],
  schedules: [],
  tempDir: '/tmp',
  dataDir: '/data',
  masterKey: { file: '/k', fromEnv: false, needed: false },
  ...over,
});

function doctor(options: { offsetMs?: number; store?: MemoryBlobStore; free?: number; modes?: Record<string, number> } = {}) {
  const store = options.store ?? new MemoryBlobStore();
  return new RunDoctor({
    connectors: new MapConnectorRegistry([]),
    opener: new MemoryOpener(store),
    host: host(options.free ?? 10 * GiB, options.modes),
    // The storage stamps objects with the real time; this machine's clock is off by offsetMs.
    clock: { now: () => new Date(Date.now() + (options.offsetMs ?? 0)) },
    history: async () => {
      throw new Error('no history in this test');
    },
  });
}

const find = (findings: Finding[], check: string) => findings.filter((f) => f.check === check);

describe('RunDoctor', () => {
  it('passes a target that takes a probe write, read and delete, and leaves no probe behind', async () => {
    const store = new MemoryBlobStore();
    const findings = await doctor({ store }).execute(input());
    expect(find(findings, 'probe')).toEqual([expect.objectContaining({ status: 'ok' })]);
    expect(find(findings, 'clock')).toEqual([expect.objectContaining({ status: 'ok' })]);
    expect([...store.objects.keys()]).toEqual([]);
    expect(doctorExitCode(findings)).toBe(0);
  });

  it('warns at minutes of clock skew against the storage and fails past the 15 minutes clouds allow', async () => {
    const five = await doctor({ offsetMs: -5 * 60_000 }).execute(input());
    expect(find(five, 'clock')[0]).toMatchObject({ status: 'warn', message: expect.stringMatching(/300 s ahead of this machine/) });
    expect(find(five, 'clock')[0]!.fix).toMatch(/ntp|chrony/);
    expect(doctorExitCode(five)).toBe(5);
    const twenty = await doctor({ offsetMs: 20 * 60_000 }).execute(input());
    expect(find(twenty, 'clock')[0]).toMatchObject({ status: 'fail', message: expect.stringMatching(/behind this machine/) });
    expect(doctorExitCode(twenty)).toBe(1);
  });

  it('fails a target whose writes fail, naming the permission to grant', async () => {
    const store = new MemoryBlobStore();
    store.failAfterBytes = 0;
    const findings = await doctor({ store }).execute(input({ targets: [{ name: 's3', url: 's3://bucket/prefix' }] }));
    expect(find(findings, 'probe')[0]).toMatchObject({ subject: 'target s3', status: 'fail', message: expect.stringMatching(/cannot write/) });
    expect(find(findings, 'probe')[0]!.fix).toMatch(/s3:PutObject/);
  });

  it('checks free space and the master key file mode', async () => {
    const low = await doctor({ free: 100 << 20 }).execute(input({ targets: [] }));
    expect(find(low, 'free-space').map((f) => f.status)).toEqual(['fail', 'fail']);
    const loose = await doctor({ modes: { '/k': 0o644 } }).execute(input({ targets: [] }));
    expect(find(loose, 'master-key')[0]).toMatchObject({ status: 'fail', fix: 'chmod 600 /k' });
    const tight = await doctor({ modes: { '/k': 0o600 } }).execute(input({ targets: [] }));
    expect(find(tight, 'master-key')[0]).toMatchObject({ status: 'ok' });
    const missing = await doctor().execute(input({ targets: [], masterKey: { file: '/k', fromEnv: false, needed: true } }));
    expect(find(missing, 'master-key')[0]).toMatchObject({ status: 'fail' });
  });
});
