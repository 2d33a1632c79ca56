// Asynchronous waits on shared words, through this thread's native waiter thread (native/sync.cc):
// never libuv's thread pool, never Atomics.waitAsync (V8 keeps its waiters in a per-process list, so
// a notify from another process, or through another mapping, would never reach them). While a wait is
// pending the waiter keeps the event loop alive, as a pending timer does.

import { NdshmError, invalid } from '../errors.js';
import * as native from '../native.js';

export type WaitOutcome = 'changed' | 'timeout' | 'cancelled';

const pending = new Map<number, (outcome: WaitOutcome) => void>();
let nextId = 1;
let installed = false;

function settle(id: number, outcome: WaitOutcome): void {
  const resolve = pending.get(id);
  if (resolve === undefined) return; // cancelled meanwhile
  pending.delete(id);
  if (pending.size === 0) native.syncRef(false);
  resolve(outcome);
}

function install(): void {
  native.syncCallback((id, reason) => settle(id, reason === native.SyncWaitResult.TimedOut ? 'timeout' : 'changed'));
  installed = true;
}

/** A pending native wait; `cancel()` settles it with 'cancelled' (the native side forgets it). */
export interface Wait {
  readonly promise: Promise<WaitOutcome>;
  cancel(): void;
}

/**
 * Waits, off this thread, until the word at `offset` differs from `expected` (Value mode) or until the
 * robust mutex at `offset` shows no owner (Mutex mode), or `timeoutMs` passes (negative: never).
 */
export function waitAsync(ops: native.SyncOps, offset: number, expected: number, mode: native.SyncWaitMode, timeoutMs: number, segment: string): Wait {
  if (!installed) install();
  const id = nextId;
  nextId = nextId >= 0xfffffffe ? 1 : nextId + 1;
  const rc = ops.waitAsync(offset, expected, mode, timeoutMs, id);
  if (rc !== 0) {
    throw rc === 22
      ? new NdshmError('EBADHEADER', `sync segment "${segment}" holds no usable lock at offset ${offset}`, { segment })
      : new NdshmError('ESYSTEM', `cannot start the sync waiter thread (errno ${rc})`, { segment, errno: rc });
  }
  let resolve!: (outcome: WaitOutcome) => void;
  const promise = new Promise<WaitOutcome>((r) => (resolve = r));
  pending.set(id, resolve);
  if (pending.size === 1) native.syncRef(true);
  return {
    promise,
    cancel() {
      if (!pending.has(id)) return;
      native.syncCancel(id);
      settle(id, 'cancelled');
    },
  };
}

/** A checked `{ timeoutMs, signal }`: the deadline on performance.now()'s clock (Infinity: none). */
export interface WaitLimits {
  readonly deadline: number;
  readonly signal: AbortSignal | undefined;
}

export function checkTimeout(timeoutMs: unknown, where: string): number {
  if (timeoutMs === undefined) return Infinity;
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw invalid(`${where}: timeoutMs must be a non-negative number of milliseconds, got ${String(timeoutMs)}`);
  }
  return timeoutMs;
}

export function checkSignal(signal: unknown, where: string): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (typeof signal !== 'object' || signal === null || typeof (signal as AbortSignal).aborted !== 'boolean' || typeof (signal as AbortSignal).addEventListener !== 'function') {
    throw invalid(`${where}: signal must be an AbortSignal`);
  }
  return signal as AbortSignal;
}

export function limits(timeoutMs: unknown, signal: unknown, where: string): WaitLimits {
  const t = checkTimeout(timeoutMs, where);
  return { deadline: t === Infinity ? Infinity : performance.now() + t, signal: checkSignal(signal, where) };
}

/** Milliseconds left until `deadline` (negative for none: the native convention), capped by `cap`. */
export function remaining(deadline: number, cap = Infinity): number {
  const left = Math.min(deadline - performance.now(), cap);
  return left === Infinity ? -1 : Math.max(0, left);
}

export function abortedError(what: string, segment: string, signal: AbortSignal): NdshmError {
  return new NdshmError('EABORTED', `${what} was aborted${signal.reason instanceof Error ? `: ${signal.reason.message}` : ''}`, {
    segment,
    cause: signal.reason,
  });
}

export function timeoutError(what: string, segment: string, timeoutMs: number): NdshmError {
  return new NdshmError('ETIMEDOUT', `${what} timed out after ${timeoutMs} ms`, { segment });
}

/**
 * Runs one native wait that also ends when `signal` aborts. Resolves with the wait's outcome, or
 * 'aborted' (the native wait is cancelled then).
 */
export function waitWithSignal(wait: Wait, signal: AbortSignal | undefined): Promise<WaitOutcome | 'aborted'> {
  if (signal === undefined) return wait.promise;
  if (signal.aborted) {
    wait.cancel();
    return Promise.resolve('aborted');
  }
  return new Promise((resolve) => {
    const onAbort = (): void => {
      wait.cancel();
      resolve('aborted');
    };
    signal.addEventListener('abort', onAbort, { once: true });
    void wait.promise.then((outcome) => {
      signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    });
  });
}
