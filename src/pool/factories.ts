// processPool() and threadPool(): a new pool each call (keep it, and close it when done: idle
// workers never keep the process alive, so a forgotten pool does not hang a script). Inside
// noParallel() they return SerialPools.

import { fillOptions, type PoolOptions } from './options.js';
import type { Pool } from './pool.js';
import { parallelEnabled } from './scope.js';
import { SerialPool } from './serial.js';
import { WorkerPool } from './worker-pool.js';

/** A pool of worker processes (child_process.fork), or a SerialPool inside noParallel(). */
export function processPool(options?: PoolOptions): Pool {
  const o = fillOptions(options, 'process', 'processPool');
  return parallelEnabled() ? new WorkerPool('process', o) : new SerialPool();
}

/** A pool of worker threads, or a SerialPool inside noParallel(). */
export function threadPool(options?: PoolOptions): Pool {
  const o = fillOptions(options, 'thread', 'threadPool');
  return parallelEnabled() ? new WorkerPool('thread', o) : new SerialPool();
}
