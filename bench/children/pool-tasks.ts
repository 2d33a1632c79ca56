// The tasks of the pool benchmarks, for ndshm's pools: trivial bodies, so that what is timed is the
// pool (the message, the handle, the attach cache), and the reduction.

import type { SharedNDArray } from '../../src/index.js';
import { forceGc } from '../lib/gc.js';
import { sumFloat64, warmUpSum } from '../lib/sum.js';

export function empty(): number {
  return 0;
}

/** One element of an array passed by handle (opened from the worker's attach cache). */
export function first(a: SharedNDArray): number {
  return a.get(0) as number;
}

/** The last element (a 1 GiB array: proves the whole array arrived). */
export function last(a: SharedNDArray | Float64Array): number {
  return a instanceof Float64Array ? a[a.length - 1]! : (a.get(a.size - 1) as number);
}

/** Has V8 compile the sum before the clock. */
export function warmSum(): number {
  warmUpSum();
  return 0;
}

export function sum(a: SharedNDArray): number {
  return sumFloat64(a.data as Float64Array);
}

/** A full GC in the worker (after a 1 GiB copy, so that the next trial does not pay for it). */
export function collect(): number {
  forceGc();
  return 0;
}
