// workerpool's worker (a child process, workerType 'process') for the pool benchmarks: an empty task
// and an ndshm handle opened from a cache (what a user would write around workerpool).

import workerpool from 'workerpool';

import { SharedNDArray, type SharedNDArrayHandle } from '../../src/index.js';

const cache = new Map<string, SharedNDArray>();

workerpool.worker({
  empty: () => 0,
  handle: (h: SharedNDArrayHandle) => {
    let a = cache.get(h.name);
    if (a === undefined) {
      a = SharedNDArray.open(h);
      cache.set(h.name, a);
    }
    return a.get(0);
  },
});
