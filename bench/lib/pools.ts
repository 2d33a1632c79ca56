// Timing helpers of the pool benchmarks: sequential latency (one task at a time) and throughput
// (a fixed number of tasks kept in flight), the same for every pool library.

import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';

import { type Summary, summarize } from './stats.js';

/** Runs `count` tasks one at a time, untimed (workers started, code compiled). */
export async function warm(run: () => Promise<unknown>, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await run();
}

/** Per-task round trips in microseconds, one task at a time, after `warmup` untimed ones. */
export async function latency(run: () => Promise<unknown>, count: number, warmup: number): Promise<Summary> {
  for (let i = 0; i < warmup; i++) await run();
  const us: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await run();
    us.push((performance.now() - start) * 1000);
  }
  return summarize(us);
}

/** Tasks per second with `inFlight` tasks outstanding at all times, `count` tasks in all. */
export async function throughput(run: () => Promise<unknown>, count: number, inFlight: number): Promise<number> {
  let started = 0;
  const start = performance.now();
  const lane = async (): Promise<void> => {
    while (started < count) {
      started++;
      await run();
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return count / ((performance.now() - start) / 1000);
}

/** A note on the machine's load when a scenario started (these VMs are shared: say so in the figures). */
export function loadNote(): string {
  const [one] = loadavg();
  const n = cpus().length;
  const busy = one! > n / 2;
  return `1-minute load average when the scenario started: ${one!.toFixed(2)} on ${n} CPUs${busy ? ' (other programs were running: figures from a loaded machine)' : ''}.`;
}
