import type { Readable } from 'node:stream';
import type { Manifest, PartEntry, PartRole } from '../../domain/manifest.js';

export interface PartSpec {
  /** Base name without codec suffix, e.g. `data/main.0.sqlite` (the writer appends `.zst`). */
  name: string;
  role: PartRole;
  object?: string;
  /** Exact raw size when known up front. */
  rawSize?: number;
  /**
   * A later backup reads this part back (SQLite's page map): when the run cannot read its
   * repository (encrypted to age recipients only), a copy of its raw bytes is kept (PartCache).
   */
  keepLocal?: boolean;
}

/** Where a connector sends its parts: each call runs the whole pipeline for that part. */
export interface PartSink {
  /** Stores `body` as one part (hashed, compressed, encrypted, uploaded); resolves with its manifest entry. */
  write(spec: PartSpec, body: Readable): Promise<PartEntry>;
}

/** Streams a part's raw bytes back, checksums verified as they flow (the stream errors on mismatch). */
export interface PartSource {
  readonly manifest: Manifest;
  /** The raw bytes of `part`; the stream fails with E_CHECKSUM / E_TRUNCATED when they do not match. */
  open(part: PartEntry): Promise<Readable>;
  /**
   * Set while every part's stored bytes are still being checked (see prepareDuringChecks):
   * resolves when all passed, rejects with the damage found. Nothing may change the target before.
   */
  readonly checked?: Promise<void>;
}
