// GC counts of several processes as a table cell: "0 in each of 3 runs", or a median (min–max), with
// the major (mark-compact) ones when there were any.

import { num } from './report.js';
import { summarize } from './stats.js';

export function gcCountsText(gcs: readonly number[], majorGcs: readonly number[]): string {
  const per = (counts: readonly number[]): string => {
    if (counts.every((c) => c === counts[0])) return `${counts[0]} in each of ${counts.length} runs`;
    const s = summarize(counts);
    return `${num(s.median)} (${s.min}–${s.max}) per run`;
  };
  return majorGcs.some((c) => c > 0) ? `${per(gcs)}; major (mark-compact): ${per(majorGcs)}` : per(gcs);
}
