declare const __DBBACKUP_UPDATE_KEYS__: readonly string[] | undefined;

/**
 * The Ed25519 public keys (raw 32 bytes, base64) whose signatures a single executable accepts for
 * its updates. Baked in when the executable is built (`npm run build:sea` with
 * DBBACKUP_UPDATE_PUBLIC_KEYS set: esbuild defines the constant), never read at run time, so no
 * file or variable can swap the trust root. Without any, the executable refuses to self-update.
 */
export const BUILT_IN_UPDATE_KEYS: readonly string[] = typeof __DBBACKUP_UPDATE_KEYS__ === 'undefined' ? [] : __DBBACKUP_UPDATE_KEYS__;
