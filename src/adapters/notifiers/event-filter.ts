import type { Outcome, OutcomeEvent } from '../../application/ports/notifier.js';

export interface NotifierFilter {
  on: Outcome[];
  sources?: string[];
}

/** Test messages always go out; otherwise the outcome and (when listed) the source must match. */
export function wants(filter: NotifierFilter, event: OutcomeEvent): boolean {
  if (event.task === 'test') return true;
  return filter.on.includes(event.outcome) && (!filter.sources || filter.sources.includes(event.source));
}

/** `https://hooks.slack.com/services/T…/B…/xyz` → `https://hooks.slack.com/…` (the path holds the token). */
export function safeUrlLabel(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return 'an invalid URL';
  }
}
