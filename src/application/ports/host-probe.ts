/** What `doctor` asks of the machine it runs on. */
export interface HostProbe {
  /** Bytes an unprivileged user may still write on the file system holding `path` (its nearest existing ancestor). */
  freeBytes(path: string): Promise<number>;
  /** The permission bits of the file at `path` (e.g. 0o600), or undefined when there is none. */
  fileMode(path: string): Promise<number | undefined>;
}
