// Wall-clock timing with performance.now() (monotonic, sub-microsecond resolution in Node).

import { performance } from 'node:perf_hooks';

/** Runs `fn` once and returns how long it took, in milliseconds. */
export function timeMs(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

/**
 * Runs one trial of each alternative per round, alternating which goes first, so that drift over the
 * run (the host reclaiming freed memory, other load) falls on both sides alike.
 */
export function interleave(rounds: number, trials: readonly (() => void)[]): void {
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? trials : [...trials].reverse();
    for (const trial of order) trial();
  }
}

/** Same as interleave, for trials that await (child processes). */
export async function interleaveAsync(rounds: number, trials: readonly (() => Promise<void>)[]): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? trials : [...trials].reverse();
    for (const trial of order) await trial();
  }
}
