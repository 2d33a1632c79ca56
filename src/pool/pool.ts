// The interface every pool has (multiprocessing.Pool's, in camelCase and with promises), and the part
// of it that does not depend on where tasks run: argument checks, the life cycle (open, closed,
// terminated), map and imap over units of work, aborts and progress. A unit is one task called on
// one argument list, or on a chunk of them; process and thread pools send units to workers,
// SerialPool runs them in this thread, with the same outcomes.

import { NdshmError, invalid, show } from '../errors.js';
import type { SharedNDArray } from '../ndarray/array.js';
import { checkOptions } from '../options.js';
import { AsyncResult } from './async-result.js';
import { aborted, poolClosed } from './errors.js';
import { Progress, type ProgressOptions } from './progress.js';
import { type ResolvedTask, type TaskRef, normalizeTask } from './task.js';

export type PoolKind = 'process' | 'thread' | 'serial';
export type PoolState = 'open' | 'closed' | 'terminated';

export interface TaskOptions {
  /** Aborting it rejects the task with EABORTED: a queued task is dropped, a running one's worker is ended and replaced. */
  signal?: AbortSignal;
}

export interface ApplyAsyncOptions<R> extends TaskOptions {
  /** Called with the result. */
  callback?: (result: R) => void;
  /** Called with the error (an NdshmError: ETASK, EWORKERDIED, EPOOLCLOSED, EABORTED, EINVAL). */
  errorCallback?: (error: NdshmError) => void;
}

export interface MapOptions extends TaskOptions {
  /** Items per message to a worker. Default: map/starmap as Python (items / (4 × size), rounded up); imap 1. */
  chunksize?: number;
  /** A progress bar on stderr when it is a TTY: true counts items; or { counter, total, label, stream }. */
  progress?: boolean | ProgressOptions;
}

export interface Pool extends AsyncDisposable {
  readonly kind: PoolKind;
  readonly size: number;
  readonly state: PoolState;
  apply<A extends readonly unknown[], R>(task: TaskRef<A, R>, args: Readonly<A>, options?: TaskOptions): Promise<Awaited<R>>;
  applyAsync<A extends readonly unknown[], R>(task: TaskRef<A, R>, args: Readonly<A>, options?: ApplyAsyncOptions<Awaited<R>>): AsyncResult<Awaited<R>>;
  map<T, R>(task: TaskRef<[T], R>, items: Iterable<T>, options?: MapOptions): Promise<Awaited<R>[]>;
  starmap<A extends readonly unknown[], R>(task: TaskRef<A, R>, argLists: Iterable<Readonly<A>>, options?: MapOptions): Promise<Awaited<R>[]>;
  imap<T, R>(task: TaskRef<[T], R>, items: Iterable<T> | AsyncIterable<T>, options?: MapOptions): AsyncIterableIterator<Awaited<R>>;
  /** Starts every worker now and resolves once each is ready (its initializer run); SerialPool: at once. */
  start(): Promise<void>;
  close(): void;
  join(): Promise<void>;
  terminate(): Promise<void>;
}

/** One message's worth of work. `done` is called once; later outcomes (an abort won) are discarded. */
export interface Unit {
  readonly id: number;
  readonly task: ResolvedTask;
  readonly calls: readonly (readonly unknown[])[];
  /** SerialPool: runs a function in the async context of the caller that submitted the unit. */
  enter?: <T>(fn: () => T) => T;
  settled: boolean;
  done(values: unknown[], error?: NdshmError, made?: readonly SharedNDArray[]): void;
}

type Outcome = (values: unknown[], error: NdshmError | undefined) => void;

function checkArgs(args: unknown, where: string): unknown[] {
  if (!Array.isArray(args)) throw invalid(`${where}: args must be an array of arguments, got ${show(args)}`);
  return args;
}

function checkSignal(signal: unknown, where: string): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) throw invalid(`${where}: signal must be an AbortSignal, got ${show(signal)}`);
  return signal;
}

function checkCallback<F>(fn: unknown, what: string): F | undefined {
  if (fn === undefined) return undefined;
  if (typeof fn !== 'function') throw invalid(`applyAsync: ${what} must be a function, got ${show(fn)}`);
  return fn as F;
}

function iterableOf(items: unknown, where: string, async: boolean): Iterable<unknown> | AsyncIterable<unknown> {
  if (typeof items === 'string') return [...items];
  const ok = typeof items === 'object' && items !== null && (typeof (items as Iterable<unknown>)[Symbol.iterator] === 'function' || (async && typeof (items as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function'));
  if (!ok) throw invalid(`${where}: items must be ${async ? 'an iterable or async iterable' : 'an iterable'}, got ${show(items)}`);
  return items as Iterable<unknown>;
}

function argList(item: unknown, star: boolean, where: string): readonly unknown[] {
  if (!star) return [item];
  if (typeof item !== 'object' || item === null || typeof (item as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw invalid(`${where}: each item must be an array of arguments, got ${show(item)}`);
  }
  return Array.from(item as Iterable<unknown>);
}

export abstract class PoolBase implements Pool {
  abstract readonly kind: PoolKind;
  abstract readonly size: number;
  #state: PoolState = 'open';
  #nextId = 1;
  /** Units not settled yet. */
  protected readonly live = new Set<Unit>();
  #idle: (() => void)[] = [];
  /** One 'abort' listener per signal, whatever the number of tasks waiting on it (no listener-leak warnings). */
  readonly #aborts = new WeakMap<AbortSignal, Set<() => void>>();

  /** Calls `fn` when `signal` aborts; returns the function that stops that. */
  #onAbort(signal: AbortSignal | undefined, fn: () => void): () => void {
    if (signal === undefined) return () => undefined;
    let fns = this.#aborts.get(signal);
    if (fns === undefined) {
      const set = new Set<() => void>();
      fns = set;
      this.#aborts.set(signal, set);
      signal.addEventListener('abort', () => {
        for (const f of [...set]) f();
        set.clear();
      }, { once: true });
    }
    fns.add(fn);
    const registered = fns;
    return () => void registered.delete(fn);
  }

  /** Starts (or queues) a unit. */
  abstract start(): Promise<void>;
  protected abstract dispatch(unit: Unit): void;
  /** A unit was settled early (aborted, or its map failed): drop it; `kill` a running one's worker. */
  protected abstract withdraw(unit: Unit, kill: boolean): void;
  /** close() was called: workers may go once the work is done. */
  protected abstract closing(): void;
  /** terminate(): end every worker now; resolves when they are gone. */
  protected abstract kill(): Promise<void>;
  /** Whether every worker has ended (join waits for it). */
  protected abstract get workersGone(): boolean;

  get state(): PoolState {
    return this.#state;
  }

  // ----- units ---------------------------------------------------------------------------------

  #checkOpen(where: string): void {
    if (this.#state !== 'open') throw poolClosed(`${where}: the pool is ${this.#state === 'closed' ? 'closed' : 'terminated'}: it takes no new tasks`);
  }

  /** Makes, tracks and dispatches a unit; `outcome` gets its values or its error exactly once. */
  protected submit(task: ResolvedTask, calls: readonly (readonly unknown[])[], signal: AbortSignal | undefined, outcome: Outcome): Unit {
    const unit: Unit = {
      id: this.#nextId++,
      task,
      calls,
      settled: false,
      done: (values, error, made = []) => {
        if (unit.settled) {
          for (const a of made) a.release(); // nobody will see them: the caller's adopted copies go
          return;
        }
        unit.settled = true;
        this.live.delete(unit);
        stopAbort();
        try {
          outcome(values, error);
        } finally {
          this.settledOne();
        }
      },
    };
    const onAbort = (): void => {
      if (unit.settled) return;
      unit.done([], aborted(signal!));
      this.withdraw(unit, true);
    };
    this.live.add(unit);
    const stopAbort = this.#onAbort(signal, onAbort);
    this.dispatch(unit);
    return unit;
  }

  /** Called when a unit settles or a worker ends: wakes join() once all is done. */
  protected settledOne(): void {
    if (this.#state === 'open' || this.live.size > 0 || !this.workersGone) return;
    for (const wake of this.#idle.splice(0)) wake();
  }

  /** Settles every live unit with `error` (terminate). */
  protected failAll(error: () => NdshmError): void {
    for (const u of [...this.live]) u.done([], error());
  }

  // ----- the interface ---------------------------------------------------------------------------

  async apply<A extends readonly unknown[], R>(task: TaskRef<A, R>, args: Readonly<A>, options?: TaskOptions): Promise<Awaited<R>> {
    const t = normalizeTask(task, 'apply');
    const a = checkArgs(args, 'apply');
    const signal = checkSignal(checkOptions(options, ['signal'], 'apply').signal, 'apply');
    this.#checkOpen('apply');
    if (signal?.aborted) throw aborted(signal);
    return new Promise<Awaited<R>>((resolve, reject) => {
      this.submit(t, [a], signal, (values, error) => (error === undefined ? resolve(values[0] as Awaited<R>) : reject(error)));
    });
  }

  applyAsync<A extends readonly unknown[], R>(task: TaskRef<A, R>, args: Readonly<A>, options?: ApplyAsyncOptions<Awaited<R>>): AsyncResult<Awaited<R>> {
    const o = checkOptions(options, ['signal', 'callback', 'errorCallback'], 'applyAsync');
    const callback = checkCallback<(r: Awaited<R>) => void>(o.callback, 'callback');
    const errorCallback = checkCallback<(e: NdshmError) => void>(o.errorCallback, 'errorCallback');
    const promise = this.apply(task, args, o.signal === undefined ? undefined : { signal: o.signal });
    return new AsyncResult(promise, callback, errorCallback);
  }

  map<T, R>(task: TaskRef<[T], R>, items: Iterable<T>, options?: MapOptions): Promise<Awaited<R>[]> {
    return this.#mapAll('map', task, items, options, false) as Promise<Awaited<R>[]>;
  }

  starmap<A extends readonly unknown[], R>(task: TaskRef<A, R>, argLists: Iterable<Readonly<A>>, options?: MapOptions): Promise<Awaited<R>[]> {
    return this.#mapAll('starmap', task, argLists, options, true) as Promise<Awaited<R>[]>;
  }

  #mapOptions(options: unknown, where: string): { chunksize: number | undefined; signal: AbortSignal | undefined; progress: unknown } {
    const o = checkOptions(options as MapOptions | undefined, ['chunksize', 'signal', 'progress'], where);
    const c = o.chunksize;
    if (c !== undefined && (typeof c !== 'number' || !Number.isSafeInteger(c) || c < 1)) throw invalid(`${where}: chunksize must be a positive integer, got ${show(c)}`);
    if (o.progress !== undefined && typeof o.progress !== 'boolean' && (typeof o.progress !== 'object' || o.progress === null)) {
      throw invalid(`${where}: progress must be a boolean or progress options, got ${show(o.progress)}`);
    }
    return { chunksize: c, signal: checkSignal(o.signal, where), progress: o.progress };
  }

  async #mapAll(where: string, task: unknown, items: unknown, options: unknown, star: boolean): Promise<unknown[]> {
    const t = normalizeTask(task, where);
    const o = this.#mapOptions(options, where);
    const calls = Array.from(iterableOf(items, where, false) as Iterable<unknown>, (item) => argList(item, star, where));
    this.#checkOpen(where);
    const signal = o.signal;
    if (signal?.aborted) throw aborted(signal);
    if (calls.length === 0) return [];
    const chunk = o.chunksize ?? Math.ceil(calls.length / (4 * this.size));
    const bar = Progress.start(o.progress, calls.length, where);
    const results: unknown[] = new Array<unknown>(calls.length);
    return new Promise<unknown[]>((resolve, reject) => {
      const units: Unit[] = [];
      let remaining = Math.ceil(calls.length / chunk);
      let failed = false;
      const fail = (error: NdshmError): void => {
        failed = true;
        bar?.end();
        stopAbort();
        for (const u of units) {
          if (u.settled) continue;
          u.done([], error);
          this.withdraw(u, false);
        }
        reject(error);
      };
      const onAbort = (): void => {
        if (failed) return;
        const error = aborted(signal!);
        failed = true;
        bar?.end();
        for (const u of units) {
          if (u.settled) continue;
          u.done([], error);
          this.withdraw(u, true);
        }
        reject(error);
      };
      const stopAbort = this.#onAbort(signal, onAbort);
      for (let start = 0; start < calls.length && !failed; start += chunk) {
        const from = start;
        units.push(
          this.submit(t, calls.slice(from, from + chunk), undefined, (values, error) => {
            if (failed) return;
            for (let i = 0; i < values.length; i++) results[from + i] = values[i];
            bar?.add(values.length);
            if (error !== undefined) return fail(error);
            if (--remaining === 0) {
              bar?.end();
              stopAbort();
              resolve(results);
            }
          }),
        );
      }
    });
  }

  imap<T, R>(task: TaskRef<[T], R>, items: Iterable<T> | AsyncIterable<T>, options?: MapOptions): AsyncIterableIterator<Awaited<R>> {
    return this.#imap(task, items, options) as AsyncIterableIterator<Awaited<R>>;
  }

  // Results in order, with at most 2 × size units in flight: a long (or endless) input is read as
  // results are taken. Leaving the loop early (break, throw) drops the units not started; results
  // that arrive after that are released.
  async *#imap(task: unknown, items: unknown, options: unknown): AsyncGenerator<unknown> {
    const t = normalizeTask(task, 'imap');
    const o = this.#mapOptions(options, 'imap');
    const source = iterableOf(items, 'imap', true);
    this.#checkOpen('imap');
    const signal = o.signal;
    if (signal?.aborted) throw aborted(signal);
    const chunk = o.chunksize ?? 1;
    const window = 2 * this.size;
    const bar = Progress.start(o.progress, Array.isArray(items) ? items.length : undefined, 'imap');
    interface Slot {
      unit: Unit | undefined;
      values?: unknown[];
      error?: NdshmError;
      wake?: () => void;
    }
    const slots: Slot[] = [];
    let stopped: NdshmError | undefined;
    const onAbort = (): void => {
      stopped = aborted(signal!);
      for (const s of slots) {
        if (s.unit !== undefined && !s.unit.settled) {
          s.unit.done([], stopped);
          this.withdraw(s.unit, true);
        }
      }
    };
    const stopAbort = this.#onAbort(signal, onAbort);
    const iterator = Symbol.asyncIterator in (source as object) ? (source as AsyncIterable<unknown>)[Symbol.asyncIterator]() : (source as Iterable<unknown>)[Symbol.iterator]();
    let exhausted = false;
    const fill = async (): Promise<void> => {
      while (!exhausted && slots.length < window && stopped === undefined) {
        const calls: (readonly unknown[])[] = [];
        while (calls.length < chunk) {
          const next = await iterator.next();
          if (next.done === true) {
            exhausted = true;
            break;
          }
          calls.push([next.value]);
        }
        if (calls.length === 0 || stopped !== undefined) break;
        if (this.#state !== 'open') throw poolClosed(`imap: the pool was ${this.#state} while imap was reading its items`);
        const s: Slot = { unit: undefined };
        slots.push(s);
        s.unit = this.submit(t, calls, undefined, (values, error) => {
          s.values = values;
          s.error = error;
          s.wake?.();
        });
      }
    };
    try {
      await fill();
      while (slots.length > 0) {
        const s = slots[0]!;
        if (s.values === undefined) await new Promise<void>((wake) => (s.wake = wake));
        slots.shift();
        bar?.add(s.values!.length);
        const values = s.values!;
        const error = s.error;
        for (const v of values) yield v;
        if (error !== undefined) throw error;
        await fill();
      }
      if (stopped !== undefined) throw stopped;
    } finally {
      stopAbort();
      bar?.end();
      for (const s of slots) {
        if (s.unit !== undefined && !s.unit.settled) {
          s.unit.done([], poolClosed('imap: the loop ended before this task'));
          this.withdraw(s.unit, false);
        }
      }
      if (!exhausted) await (iterator as AsyncIterator<unknown>).return?.();
    }
  }

  close(): void {
    if (this.#state !== 'open') return;
    this.#state = 'closed';
    this.closing();
    this.settledOne();
  }

  async join(): Promise<void> {
    if (this.#state === 'open') throw invalid('join(): call close() or terminate() first (as with multiprocessing.Pool)');
    if (this.live.size === 0 && this.workersGone) return;
    await new Promise<void>((wake) => this.#idle.push(wake));
  }

  async terminate(): Promise<void> {
    if (this.#state !== 'terminated') {
      this.#state = 'terminated';
      this.failAll(() => poolClosed('the pool was terminated before the task finished'));
    }
    await this.kill();
    await this.join();
  }

  /** `await using pool = processPool()`: close() and join(): the queued tasks finish first. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.join();
  }
}
