/** Progress of a long operation; a terminal shows it, a pipe or --json run ignores it. */
export interface ProgressReporter {
  start(label: string, totalBytes?: number): void;
  /** `bytes` more bytes were processed while working on `object`. */
  advance(bytes: number, object?: string): void;
  /** `bytes` more are known to be coming (a part of known size): the line can then say how far, and how long. */
  expect(bytes: number): void;
  stop(): void;
}
