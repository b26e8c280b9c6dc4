import { DbBackupError } from '../../../domain/errors.js';

/**
 * Maps store keys (`a/b/c`, relative to the repository) to object names under the repository's
 * prefix in a bucket or container, and back. The prefix never starts or ends with `/`.
 */
export class KeySpace {
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = prefix.replace(/^\/+|\/+$/g, '');
  }

  /** The object name for `key`; E_INTERNAL for a key that is empty, absolute or has `.`/`..`/empty segments. */
  objectName(key: string): string {
    if (key === '' || key.startsWith('/') || key.split('/').some((s) => s === '' || s === '.' || s === '..')) {
      throw new DbBackupError('E_INTERNAL', `Invalid storage key "${key}".`);
    }
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  /** The object-name prefix that lists every key starting with `keyPrefix` (which may be ''). */
  listPrefix(keyPrefix: string): string {
    if (!this.prefix) return keyPrefix;
    return `${this.prefix}/${keyPrefix}`;
  }

  /** The store key of an object name, or undefined when the name is outside the prefix. */
  keyOf(objectName: string): string | undefined {
    if (!this.prefix) return objectName;
    return objectName.startsWith(`${this.prefix}/`) ? objectName.slice(this.prefix.length + 1) : undefined;
  }
}
