// The pool layer's public names (re-exported by src/index.ts).

export type { ApplyAsyncOptions, MapOptions, Pool, PoolKind, PoolState, TaskOptions } from './pool.js';
export type { AsyncResult, WaitOptions } from './async-result.js';
export type { PoolOptions } from './options.js';
export type { ProgressOptions } from './progress.js';
export type { Task, TaskRef } from './task.js';
export { defineTask } from './task.js';
export { processPool, threadPool } from './factories.js';
export { SerialPool } from './serial.js';
export { noParallel, parallelEnabled } from './scope.js';
export { globRead, globRemove, globStore, globUpdate } from './glob/store.js';
export { globStoreAttributes, globStored } from './glob/attributes.js';
