/**
 * The shapes of the dashboard API's answers that the page reads, shared by the server and the
 * front-end (src/adapters/ui/web). No imports: the browser build takes this file as it is.
 */

/** One source's health at a glance (GET /api/overview). */
export interface SourceOverview {
  name: string;
  engine: string;
  configured: boolean;
  targets: string[];
  backups: number;
  lastSuccess?: { id: string; kind: string; finishedAt: string; storedSize: number; repository: string };
  ageMs?: number;
  nextRun?: string;
  /** A schedule of this source a scheduler daemon is running now (its lock), and since when. */
  running?: { schedule: string; since: string };
  windows: { repository: string; windows: { from: string; to: string }[] }[];
  failures: { schedule: string; count: number; code?: string; message?: string }[];
  warnings: string[];
}
