// The messages between a pool and its workers (worker threads and child processes alike).

import type { SentError } from './errors.js';

/** One unit of work: one task call, or a chunk of calls of one task. */
export interface UnitMessage {
  readonly id: number;
  /** The task, by the number a `defs` entry gave it (per worker). */
  readonly task: number;
  /** One packed argument list per call. */
  readonly calls: readonly unknown[];
}

/** Caller to worker: run these units, in order (units queued together travel in one message). */
export interface RunMessage {
  readonly t: 'run';
  readonly units: readonly UnitMessage[];
  /** Task numbers first used here: [number, module URL, export name]. */
  readonly defs?: readonly (readonly [number, string, string])[];
  /** Keys of arrays the caller released: drop them from the attach cache (between tasks). */
  readonly evict?: readonly string[];
  /** Names of arrays this worker handed over that the caller adopted: no longer this worker's. */
  readonly adopted?: readonly string[];
}

/** Caller to worker: drop a unit that has not started (its signal aborted). */
export interface CancelMessage {
  readonly t: 'cancel';
  readonly id: number;
}

/** Caller to worker: finish, release everything and end. */
export interface ExitMessage {
  readonly t: 'exit';
}

export type ToWorker = RunMessage | CancelMessage | ExitMessage;

/** How one unit ended. */
export interface UnitResult {
  readonly id: number;
  /** The packed results of the calls that completed (all of them when there is no error). */
  readonly values: readonly unknown[];
  /** The error of call number `failed`; the calls after it did not run. */
  readonly error?: SentError;
  readonly failed?: number;
  /** The task could not be loaded (its module or export). */
  readonly load?: boolean;
  /** The unit was cancelled before it started. */
  readonly cancelled?: boolean;
  /** Milliseconds the worker spent on it. */
  readonly ms: number;
}

/** Worker to caller: units ended (those that ended together travel in one message). */
export interface DoneMessage {
  readonly t: 'done';
  readonly results: readonly UnitResult[];
}

/** Worker to caller: it is running (its runtime loaded). */
export interface ReadyMessage {
  readonly t: 'ready';
  readonly pid: number;
  readonly threadId: number;
}

/** Worker to caller: an uncaught exception is about to end the worker. */
export interface FatalMessage {
  readonly t: 'fatal';
  readonly error: SentError;
}

export type FromWorker = DoneMessage | ReadyMessage | FatalMessage;

/** What a worker knows about itself (the hook for host groups: the pool and its workers, rank = index). */
export interface WorkerInfo {
  readonly pool: string;
  readonly index: number;
  readonly size: number;
  readonly kind: 'process' | 'thread';
  /** Python's Pool initializer: a task the worker runs once, before its first unit, with `args`. */
  readonly init?: { readonly module: string; readonly name: string; readonly args: readonly unknown[] };
  /** The worker replaces one that ended (its index had a worker before). */
  readonly replacement?: boolean;
}
