// One worker process of the reduce scenario, forked with an IPC channel: it imports the library, has V8
// compile the sum loop (over a private array), says {ready}, then waits for {handle}; it opens that
// array (a slice of the parent's) by its handle, sums it, sends {sum, length, openMs, sumMs},
// releases it and exits.

import { SharedNDArray, type SharedNDArrayHandle } from '../../src/index.js';
import { sumFloat64, warmUpSum } from '../lib/sum.js';

performance.now(); // the performance global loads lazily
warmUpSum(); // V8 compiles the loop over a private array, before the clock
process.once('message', (m: unknown) => {
  const start = performance.now();
  const array = SharedNDArray.open((m as { handle: SharedNDArrayHandle }).handle);
  const opened = performance.now();
  const sum = sumFloat64(array.data as Float64Array);
  const summed = performance.now();
  process.send!({ sum, length: array.size, openMs: opened - start, sumMs: summed - opened });
  array.release();
  process.disconnect();
});
process.send!({ ready: true });
