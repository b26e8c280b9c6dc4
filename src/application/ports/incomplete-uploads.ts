/**
 * What a killed upload leaves on a store without being an object: an S3 multipart upload neither
 * completed nor aborted is invisible to `list` yet keeps its parts (and their cost) until aborted.
 * (Azure's uncommitted blocks and GCS's resumable sessions expire on their own.)
 */
export interface IncompleteUploads {
  /**
   * Aborts the uploads under `prefix` begun before `startedBefore` (with `dryRun`, only counts
   * them); returns how many. 0 where the service cannot list them (some S3-compatible servers).
   */
  sweep(prefix: string, startedBefore: Date, options?: { dryRun?: boolean; signal?: AbortSignal }): Promise<number>;
}
