// Garbage-collection helpers: counting the GCs that happen while a loop runs, and forcing one so that
// memory freed by a trial goes back before the next trial starts.

import { type PerformanceEntry, PerformanceObserver, constants, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface GcWindow {
  /** Marks the start of the measured interval. */
  start(): void;
  /** Marks its end. */
  end(): void;
  /** The GCs that started inside [start, end], how many were major, their total duration; stops observing. */
  collect(): Promise<{ count: number; major: number; totalMs: number }>;
}

/**
 * Observes 'gc' performance entries. Node delivers them asynchronously after the GC, so the count is
 * only complete once the event loop has turned: collect() waits a little, then filters by start time.
 */
export function observeGc(): GcWindow {
  const entries: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => entries.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  let from = Number.NaN;
  let to = Number.NaN;
  return {
    start: () => void (from = performance.now()),
    end: () => void (to = performance.now()),
    async collect() {
      await sleep(100);
      observer.disconnect();
      const inside = entries.filter((e) => e.startTime >= from && e.startTime <= to);
      // A gc entry's detail is {kind, flags} (missing from this version of @types/node).
      const kindOf = (e: PerformanceEntry) => (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      const major = inside.filter((e) => kindOf(e) === constants.NODE_PERFORMANCE_GC_MAJOR);
      return { count: inside.length, major: major.length, totalMs: inside.reduce((ms, e) => ms + e.duration, 0) };
    },
  };
}

let gcFunction = (globalThis as { gc?: () => void }).gc;

/**
 * A full GC. Children get --expose-gc; `npm run bench` passes no node flags, so the runner itself
 * turns the flag on at run time and takes gc from a fresh context.
 */
export function forceGc(): void {
  if (gcFunction === undefined) {
    setFlagsFromString('--expose-gc');
    gcFunction = runInNewContext('gc') as () => void;
  }
  gcFunction();
}
