import type { Finding } from '../../domain/diagnosis.js';
import { DOCTOR_CHECKS } from './doctor-checks.js';
import type { DoctorCheck, DoctorDeps, DoctorInput } from './doctor-types.js';

/** `dbbackup doctor`: every check of `checks` over the config's sources, targets, schedules and this machine. */
export class RunDoctor {
  constructor(
    private readonly deps: DoctorDeps,
    private readonly checks: readonly DoctorCheck[] = DOCTOR_CHECKS,
  ) {}

  async execute(input: DoctorInput, signal?: AbortSignal): Promise<Finding[]> {
    const findings: Finding[] = [];
    for (const check of this.checks) {
      signal?.throwIfAborted();
      findings.push(...(await check.run(input, this.deps, signal)));
    }
    return findings;
  }
}
