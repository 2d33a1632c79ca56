// Mutex: a glibc robust, process-shared pthread mutex in a sync segment, as LMDB uses. Locked and
// unlocked on the JavaScript thread that uses it (the kernel watches that thread: when it ends holding
// the lock, however it ends, the next locker is told `abandoned`). Asynchronous waits happen on this
// thread's native waiter thread, which only watches the lock word; the lock is then taken here.

import { NdshmError, closedError } from '../errors.js';
import * as native from '../native.js';
import { checkOptions } from '../options.js';
import { type SyncCreateOptions, SyncBlock, checkCreateOptions } from './block.js';
import type { SyncHandle } from './handle.js';
import * as layout from './layout.js';
import { type Wait, abortedError, checkSignal, checkTimeout, timeoutError, waitAsync } from './waiter.js';

export type MutexCreateOptions = SyncCreateOptions;

export interface LockOptions {
  /** Give up after this many milliseconds with ETIMEDOUT. Default: wait as long as it takes. */
  timeoutMs?: number;
  /** Give up when this signal aborts, with EABORTED (lock() only; lockSync() checks it once). */
  signal?: AbortSignal;
}

export interface LockResult {
  /**
   * True when the previous holder ended while holding the lock (process killed, thread ended, worker
   * terminated): the data it protects may be half-updated. The mutex itself is usable again.
   */
  readonly abandoned: boolean;
}

const acquired: LockResult = Object.freeze({ abandoned: false });
const abandoned: LockResult = Object.freeze({ abandoned: true });

const EPERM = 1;
const EBUSY = 16;
const EINVAL = 22;
const EDEADLK = 35;
const ETIMEDOUT = 110;
const ENOTRECOVERABLE = 131;
const maxTimerMs = 0x7fffffff; // setTimeout's limit; longer timeouts wait without a timer

interface Waiter {
  resolve: (r: LockResult) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  done: boolean;
}

export class Mutex implements Disposable {
  #block: SyncBlock | undefined;
  readonly #ops: native.SyncOps;
  readonly #name: string;
  readonly #handle: SyncHandle;
  #held = false;
  // lock() calls of this object waiting their turn, first come first served among themselves.
  readonly #queue: Waiter[] = [];
  #wait: Wait | undefined;
  #waited = false;
  // Made once: a closure written inside unlock() would make V8 allocate a context on every call.
  readonly #pumpSoon = (): void => this.#pump();

  private constructor(block: SyncBlock) {
    this.#block = block;
    this.#ops = block.ops;
    this.#name = block.name;
    this.#handle = block.handle;
  }

  /** Creates a mutex in a new segment, owned by this thread (removed when it closes it or ends). */
  static create(options?: MutexCreateOptions): Mutex {
    const opts = checkCreateOptions(options, [], 'Mutex.create');
    const block = SyncBlock.create(layout.Kind.Mutex, layout.mutex.bodyLength, opts, layout.mutex.lock, (b) => {
      const r = b.ops.initMutex();
      if (r !== 0) throw new NdshmError('ESYSTEM', `pthread_mutex_init failed (errno ${r})`, { segment: b.name, syscall: 'pthread_mutex_init', errno: r });
    });
    return new Mutex(block);
  }

  /** Opens the mutex a handle names (from any thread or process of this host). */
  static open(handle: SyncHandle): Mutex {
    const block = SyncBlock.open(
      handle,
      layout.Kind.Mutex,
      'Mutex.open',
      () => layout.mutex.lock,
      (_view, h, name) => {
        if (h.bodyLength < layout.mutex.bodyLength) throw layout.badHeader(name, `mutex body of ${h.bodyLength} bytes (64 needed)`);
      },
    );
    if (!block.ops.checkMutex()) {
      throw layout.badHeader(block.name, 'its lock is not a robust process-shared mutex as ndshm makes them (another libc, or corrupt bytes)');
    }
    return new Mutex(block);
  }

  /** A small JSON-safe object that `Mutex.open` accepts in any thread or process. */
  get handle(): SyncHandle {
    return { ...this.#handle };
  }

  get name(): string {
    return this.#name;
  }

  /** True while this Mutex object holds the lock. */
  get heldByMe(): boolean {
    return this.#held;
  }

  get closed(): boolean {
    return this.#block === undefined;
  }

  /**
   * Takes the lock, blocking this thread until it is free (or `timeoutMs` passes: ETIMEDOUT). Fine in
   * worker threads and scripts; on the main thread it blocks the event loop while it waits.
   */
  lockSync(options?: LockOptions): LockResult {
    if (options === undefined && this.#block !== undefined && !this.#held) return this.#take(this.#ops.lockNow(), 'lockSync', Infinity);
    this.#live('lockSync');
    const opts = checkOptions(options, ['timeoutMs', 'signal'], 'lockSync');
    const timeoutMs = checkTimeout(opts.timeoutMs, 'lockSync');
    const signal = checkSignal(opts.signal, 'lockSync');
    if (signal?.aborted) throw abortedError('lockSync', this.#name, signal);
    if (this.#held) throw this.#lockedError('lockSync');
    return this.#take(this.#ops.lock(timeoutMs === Infinity ? -1 : timeoutMs), 'lockSync', timeoutMs);
  }

  /** Takes the lock if it is free now; null when another holder (or this thread) has it. */
  tryLock(): LockResult | null {
    this.#live('tryLock');
    if (this.#held) return null;
    const r = this.#ops.tryLock();
    if (r === EBUSY || r === EDEADLK) return null;
    return this.#take(r, 'tryLock', 0);
  }

  /**
   * Takes the lock, waiting without blocking this thread. Several lock() calls of one Mutex object
   * queue in call order; a second lock() while this object holds it waits for unlock().
   */
  lock(options?: LockOptions): Promise<LockResult> {
    try {
      this.#live('lock');
      const opts = checkOptions(options, ['timeoutMs', 'signal'], 'lock');
      const timeoutMs = checkTimeout(opts.timeoutMs, 'lock');
      const signal = checkSignal(opts.signal, 'lock');
      if (signal?.aborted) throw abortedError('lock', this.#name, signal);
      if (!this.#held && this.#queue.length === 0) {
        const r = this.#ops.tryLock();
        if (r !== EBUSY && r !== EDEADLK) return Promise.resolve(this.#take(r, 'lock', timeoutMs));
      }
      if (timeoutMs === 0) throw timeoutError('lock', this.#name, 0);
      return new Promise<LockResult>((resolve, reject) => {
        const w: Waiter = { resolve, reject, timer: undefined, signal, onAbort: undefined, done: false };
        if (timeoutMs <= maxTimerMs) w.timer = setTimeout(() => this.#drop(w, timeoutError('lock', this.#name, timeoutMs)), timeoutMs);
        if (signal !== undefined) {
          w.onAbort = () => this.#drop(w, abortedError('lock', this.#name, signal));
          signal.addEventListener('abort', w.onAbort, { once: true });
        }
        this.#queue.push(w);
        this.#pump();
      });
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** Runs `fn` holding the lock (taken with lock()), and unlocks when it settles. */
  async withLock<T>(fn: (result: LockResult) => T | Promise<T>, options?: LockOptions): Promise<T> {
    const result = await this.lock(options);
    try {
      return await fn(result);
    } finally {
      if (this.#held) this.unlock();
    }
  }

  /** Releases the lock. ENOTOWNER unless this Mutex object holds it. */
  unlock(): void {
    this.#live('unlock');
    if (!this.#held) {
      throw new NdshmError(
        'ENOTOWNER',
        `mutex "${this.#name}" is not held by this Mutex object: unlock() must come from the thread (and object) that locked it`,
        { segment: this.#name },
      );
    }
    const r = this.#ops.unlock();
    this.#held = false;
    if (r !== undefined) {
      throw r === EPERM
        ? new NdshmError('ENOTOWNER', `mutex "${this.#name}": the lock word no longer names this thread (overwritten by another process?)`, {
            segment: this.#name,
          })
        : this.#error(r, 'unlock');
    }
    if (this.#queue.length > 0) queueMicrotask(this.#pumpSoon);
  }

  /**
   * Ends this object: pending lock() calls reject with ECLOSED; the creator of a non-persistent mutex
   * removes its name. ELOCKED while this object holds the lock (unlock first: unmapping a held robust
   * mutex would break owner-death detection for this thread). Calling it again does nothing.
   */
  close(): void {
    const block = this.#block;
    if (block === undefined) return;
    if (this.#held) throw this.#lockedError('close');
    this.#block = undefined;
    for (const w of this.#queue.splice(0)) this.#finish(w).reject(closedError('mutex', this.#name));
    this.#wait?.cancel();
    this.#wait = undefined;
    block.release();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #live(what: string): SyncBlock {
    const block = this.#block;
    if (block === undefined) {
      throw new NdshmError('ECLOSED', `mutex "${this.#name}" is closed (${what})`, { segment: this.#name });
    }
    return block;
  }

  #lockedError(what: string): NdshmError {
    return new NdshmError(
      'ELOCKED',
      what === 'close'
        ? `mutex "${this.#name}" is held by this thread: unlock() before close()`
        : `mutex "${this.#name}" is already held by this thread (it is not recursive): ${what} would wait for itself`,
      { segment: this.#name },
    );
  }

  #error(r: number, what: string, timeoutMs = 0): NdshmError {
    const segment = this.#name;
    switch (r) {
      case EDEADLK:
        return this.#lockedError(what);
      case ETIMEDOUT:
        return timeoutError(what, segment, timeoutMs);
      case ENOTRECOVERABLE:
        return new NdshmError(
          'ENOTRECOVERABLE',
          `mutex "${segment}" is not recoverable: a holder whose predecessor died unlocked it without marking it consistent (a non-ndshm user)`,
          { segment, errno: r },
        );
      case EINVAL:
        return layout.badHeader(segment, 'its lock is no longer a robust process-shared mutex (corrupt bytes)');
      default:
        return new NdshmError('ESYSTEM', `mutex "${segment}": ${what} failed (errno ${r})`, { segment, errno: r });
    }
  }

  #take(r: number | undefined, what: string, timeoutMs: number): LockResult {
    if (r === undefined || r === -1) {
      this.#held = true;
      return r === undefined ? acquired : abandoned;
    }
    throw this.#error(r, what, timeoutMs);
  }

  #finish(w: Waiter): Waiter {
    w.done = true;
    if (w.timer !== undefined) clearTimeout(w.timer);
    if (w.onAbort !== undefined) w.signal!.removeEventListener('abort', w.onAbort);
    return w;
  }

  #drop(w: Waiter, err: Error): void {
    if (w.done) return;
    const i = this.#queue.indexOf(w);
    if (i >= 0) this.#queue.splice(i, 1);
    this.#finish(w).reject(err);
    if (this.#queue.length === 0 && this.#wait !== undefined) {
      this.#wait.cancel(); // the native side passes on a wake it may have taken
      this.#wait = undefined;
    }
  }

  // Gives the lock to the first queued lock() if it can be taken now; otherwise makes sure the waiter
  // thread watches the lock word.
  #pump(): void {
    while (this.#queue.length > 0 && !this.#held && this.#block !== undefined) {
      const r = this.#waited ? this.#ops.tryLockWaited() : this.#ops.tryLock();
      if (r === EBUSY || r === EDEADLK) {
        try {
          this.#arm();
        } catch (err) {
          for (const w of this.#queue.splice(0)) this.#finish(w).reject(err as Error);
        }
        return;
      }
      const w = this.#finish(this.#queue.shift()!);
      this.#waited = false;
      try {
        w.resolve(this.#take(r, 'lock', 0));
      } catch (err) {
        w.reject(err as Error);
      }
    }
    if (this.#queue.length === 0 && this.#wait !== undefined) {
      this.#wait.cancel();
      this.#wait = undefined;
    }
  }

  #arm(): void {
    if (this.#wait !== undefined) return;
    const wait = waitAsync(this.#ops, layout.mutex.lock, 0, native.SyncWaitMode.Mutex, -1, this.#name);
    this.#wait = wait;
    this.#waited = true;
    void wait.promise.then((outcome) => {
      if (this.#wait !== wait) return;
      this.#wait = undefined;
      if (outcome === 'cancelled') return;
      if (this.#queue.length === 0 || this.#block === undefined) {
        this.#ops.wake(layout.mutex.lock, 1); // nobody here wants it now: pass the wake on
        return;
      }
      this.#pump();
    });
  }
}
