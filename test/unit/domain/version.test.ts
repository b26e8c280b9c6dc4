import { describe, expect, it } from 'vitest';
import { compareVersions } from '../../../src/domain/version.js';

describe('compareVersions', () => {
  it('orders releases and pre-releases as semver does', () => {
    const sorted = ['0.1.0-alpha', '0.1.0-alpha.1', '0.1.0-alpha.beta', '0.1.0-beta.2', '0.1.0-beta.11', '0.1.0-rc.1', '0.1.0', '0.1.1', '0.2.0', '0.10.0', '1.0.0'];
    for (let i = 0; i < sorted.length; i++) {
      for (let j = 0; j < sorted.length; j++) expect(Math.sign(compareVersions(sorted[i]!, sorted[j]!)), `${sorted[i]} vs ${sorted[j]}`).toBe(Math.sign(i - j));
    }
  });

  it('rejects what is not a version', () => {
    expect(() => compareVersions('1.0', '1.0.0')).toThrow(/not a release version/);
  });
});
