// The task of examples/pool-reduce.ts (docs/pools.md, "A worked example"): a module and an export,
// as pools name tasks. defineTask keeps the function's types for pool.apply/map/starmap.

import { type Counter, type SharedNDArray, defineTask } from '../src/index.js';

/** Sums a[from:to], adding to `progress` every 8 MiB so that the caller's bar moves while it works. */
export const sumRange = defineTask(import.meta.url, 'sumRange', (a: SharedNDArray, from: number, to: number, progress: Counter): number => {
  const data = a.data as Float64Array; // the worker's view of the caller's memory: no copy
  const step = 1 << 20;
  let s = 0;
  for (let lo = from; lo < to; lo += step) {
    const hi = Math.min(lo + step, to);
    for (let i = lo; i < hi; i++) s += data[i]!;
    progress.add(hi - lo);
  }
  return s;
});
