/** Progress of a long operation; a terminal shows it, a pipe or --json run ignores it. */
export interface ProgressReporter {
  start(label: string, totalBytes?: number): void;
  /** `bytes` more bytes were processed while working on `object`. */
  advance(bytes: number, object?: string): void;
  stop(): void;
}
