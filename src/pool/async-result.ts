// What applyAsync returns: multiprocessing's AsyncResult (ready, successful, get, wait) that is also
// awaitable. The outcome is kept until asked for, as in Python: a failed task whose result nobody
// awaits is not an unhandled rejection. Callbacks run once the task settles; an exception in one
// is rethrown on its own (an uncaught exception, as from any callback) and never affects the pool.

import { NdshmError, invalid } from '../errors.js';
import { checkOptions } from '../options.js';

export interface WaitOptions {
  /** Give up waiting after this long (get: ETIMEDOUT; wait: resolves anyway). */
  timeoutMs?: number;
}

function checkWait(options: unknown, where: string): number | undefined {
  const o = checkOptions(options as WaitOptions | undefined, ['timeoutMs'], where);
  const t = o.timeoutMs;
  if (t === undefined) return undefined;
  if (typeof t !== 'number' || !(t >= 0) || t > 2 ** 31 - 1) throw invalid(`${where}: timeoutMs must be a number of milliseconds from 0 to 2^31 - 1`);
  return t;
}

function callSafely<T>(fn: (x: T) => void, x: T): void {
  try {
    fn(x);
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

export class AsyncResult<R> implements PromiseLike<R> {
  #state: 'pending' | 'fulfilled' | 'rejected' = 'pending';
  readonly #promise: Promise<R>;

  /** @internal */
  constructor(promise: Promise<R>, callback?: (result: R) => void, errorCallback?: (error: NdshmError) => void) {
    this.#promise = promise.then(
      (v) => {
        if (callback !== undefined) callSafely(callback, v);
        this.#state = 'fulfilled';
        return v;
      },
      (e: unknown) => {
        if (errorCallback !== undefined) callSafely(errorCallback, e as NdshmError);
        this.#state = 'rejected';
        throw e;
      },
    );
    this.#promise.catch(() => undefined); // kept for get()
  }

  /** The task has settled (and its callback has run). */
  ready(): boolean {
    return this.#state !== 'pending';
  }

  /** It settled without an error. EINVAL before it is ready (as Python's ValueError). */
  successful(): boolean {
    if (this.#state === 'pending') throw invalid('successful(): the task has not settled yet (see ready())');
    return this.#state === 'fulfilled';
  }

  /** The result, or the task's error; ETIMEDOUT if `timeoutMs` passes first. */
  get(options?: WaitOptions): Promise<R> {
    let timeout: number | undefined;
    try {
      timeout = checkWait(options, 'get');
    } catch (err) {
      return Promise.reject(err);
    }
    if (timeout === undefined || this.#state !== 'pending') return this.#promise;
    return this.#within(timeout, () => new NdshmError('ETIMEDOUT', `get(): the task did not settle within ${timeout} ms`));
  }

  /** Resolves once the task has settled (never rejects), or after `timeoutMs`. */
  wait(options?: WaitOptions): Promise<void> {
    let timeout: number | undefined;
    try {
      timeout = checkWait(options, 'wait');
    } catch (err) {
      return Promise.reject(err);
    }
    const settled = this.#promise.then(() => undefined, () => undefined);
    if (timeout === undefined || this.#state !== 'pending') return settled;
    return this.#within(timeout, undefined).then(() => undefined, () => undefined);
  }

  then<A = R, B = never>(onFulfilled?: ((value: R) => A | PromiseLike<A>) | null, onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    return this.#promise.then(onFulfilled, onRejected);
  }

  #within(ms: number, error: (() => NdshmError) | undefined): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => (error === undefined ? resolve(undefined as R) : reject(error())), ms);
      this.#promise.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }
}
