// noParallel(): PyNitride's no_parallel(), scoped to the async call instead of the process, and safe
// on exceptions. Inside it, processPool() and threadPool() return SerialPools and parallelEnabled()
// is false; outside it (other callers, concurrently) nothing changes.
//
//     await noParallel(async () => { ... });   // exactly the call and what it starts
//     { using _ = noParallel(); ... }          // this block (see below)
//
// The `using` form enters a scope in the current async context (AsyncLocalStorage.enterWith) and
// leaves it at the end of the block, even on a throw; scopes nest. What the block starts carries the
// scope; so does, until the block ends, the rest of the synchronous code that is running when
// noParallel() is called (in an async function: its caller, until the function's first await) —
// the function form has no such edge.

import { AsyncLocalStorage } from 'node:async_hooks';

import { invalid, show } from '../errors.js';

interface Frame {
  active: boolean;
  readonly parent: Frame | undefined;
}

const scope = new AsyncLocalStorage<Frame>();

/** False inside noParallel() (in this async context), true elsewhere. */
export function parallelEnabled(): boolean {
  for (let f = scope.getStore(); f !== undefined; f = f.parent) if (f.active) return false;
  return true;
}

/** Runs `fn` with parallelism off (its return value, a promise for an async fn); or, with no argument, a Disposable scope. */
export function noParallel<T>(fn: () => T): T;
export function noParallel(): Disposable;
export function noParallel<T>(fn?: () => T): T | Disposable {
  if (fn !== undefined) {
    if (typeof fn !== 'function') throw invalid(`noParallel: fn must be a function, got ${show(fn)}`);
    return scope.run({ active: true, parent: scope.getStore() }, fn);
  }
  const previous = scope.getStore();
  const frame: Frame = { active: true, parent: previous };
  scope.enterWith(frame);
  return {
    [Symbol.dispose]() {
      if (!frame.active) return;
      frame.active = false; // contexts that captured the frame see it gone, too
      if (scope.getStore() === frame) scope.enterWith(previous as Frame);
    },
  };
}
