// Errors across the worker boundary: a task's error is sent as plain data (name, message, stack,
// code, its own enumerable fields, its cause) and rebuilt on the caller's side, where it becomes the
// `cause` of an ETASK NdshmError. ndshm's own errors keep their class and code.

import { NdshmError, type NdshmErrorCode, isNdshmError } from '../errors.js';

export interface SentError {
  /** A thrown value that is not an Error (a string, a number, a plain object): sent as it is, if it can be. */
  readonly value?: unknown;
  readonly name?: string;
  readonly message?: string;
  readonly stack?: string;
  /** An NdshmError's code: rebuilt as an NdshmError. */
  readonly ndshm?: string;
  readonly props?: Record<string, unknown>;
  readonly cause?: SentError;
}

const maxDepth = 8;

function plain(value: unknown): boolean {
  const t = typeof value;
  return value === null || t === 'string' || t === 'number' || t === 'boolean' || t === 'undefined' || t === 'bigint';
}

/** An error (or any thrown value) as data that postMessage, child IPC and JSON carry. Never throws. */
export function sendError(err: unknown, depth = 0): SentError {
  try {
    if (!(err instanceof Error)) {
      if (plain(err)) return { value: err };
      try {
        return { value: structuredClone(err) };
      } catch {
        return { value: String(err) };
      }
    }
    const props: Record<string, unknown> = {};
    for (const key of Object.keys(err)) {
      if (key === 'cause') continue;
      const v = (err as unknown as Record<string, unknown>)[key];
      if (plain(v)) props[key] = v;
      else {
        try {
          props[key] = structuredClone(v);
        } catch {
          // a field that cannot travel stays behind
        }
      }
    }
    const cause = (err as { cause?: unknown }).cause;
    return {
      name: String(err.name),
      message: String(err.message),
      ...(err.stack === undefined ? {} : { stack: String(err.stack) }),
      ...(isNdshmError(err) ? { ndshm: err.code } : {}),
      props,
      ...(cause !== undefined && depth < maxDepth ? { cause: sendError(cause, depth + 1) } : {}),
    };
  } catch {
    return { value: 'an error that could not be read' };
  }
}

/** The error a SentError describes, rebuilt in this thread (an NdshmError for ndshm's own). */
export function receiveError(sent: SentError): unknown {
  if (typeof sent !== 'object' || sent === null) return sent;
  if (!('message' in sent) && !('name' in sent)) return sent.value;
  const cause = sent.cause === undefined ? undefined : receiveError(sent.cause);
  const message = sent.message ?? '';
  let err: Error;
  if (sent.ndshm !== undefined) {
    err = new NdshmError(sent.ndshm as NdshmErrorCode, message, cause === undefined ? {} : { cause });
  } else {
    err = cause === undefined ? new Error(message) : new Error(message, { cause });
    if (sent.name !== undefined && sent.name !== 'Error') Object.defineProperty(err, 'name', { value: sent.name, writable: true, configurable: true });
  }
  for (const [k, v] of Object.entries(sent.props ?? {})) {
    if (k === 'name' || k === 'message' || k === 'stack' || (sent.ndshm !== undefined && (k === 'code' || k === 'syscall' || k === 'segment' || k === 'errno'))) continue;
    try {
      Object.defineProperty(err, k, { value: v, writable: true, enumerable: true, configurable: true });
    } catch {
      // a field the error class does not allow
    }
  }
  if (sent.ndshm !== undefined) {
    const p = sent.props ?? {};
    for (const k of ['syscall', 'segment', 'errno'] as const) if (p[k] !== undefined) Object.defineProperty(err, k, { value: p[k] });
  }
  if (sent.stack !== undefined) Object.defineProperty(err, 'stack', { value: sent.stack, writable: true, configurable: true });
  return err;
}

function firstLine(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`.split('\n')[0]!.slice(0, 300);
  try {
    return String(err).split('\n')[0]!.slice(0, 300);
  } catch {
    return 'a value that cannot be shown';
  }
}

/** What a task threw, as the caller's rejection: ETASK, with the task's error (and stack) as cause. */
export function taskError(taskName: string, where: string, cause: unknown): NdshmError {
  return new NdshmError('ETASK', `task ${taskName} failed${where}: ${firstLine(cause)}`, { cause });
}

/** The task's module or export could not be loaded (cause: the loader's error). */
export function loadError(taskName: string, where: string, cause: unknown): NdshmError {
  return new NdshmError('ETASK', `task ${taskName} could not be loaded${where}: ${firstLine(cause)}`, { cause });
}

export function workerDied(taskName: string, where: string, how: string, cause?: unknown): NdshmError {
  return new NdshmError('EWORKERDIED', `the worker running task ${taskName} ended${where} (${how}); the pool replaces it`, cause === undefined ? {} : { cause });
}

export function poolClosed(what: string): NdshmError {
  return new NdshmError('EPOOLCLOSED', what);
}

export function aborted(signal: AbortSignal): NdshmError {
  return new NdshmError('EABORTED', 'the task was aborted by its signal', { cause: signal.reason });
}
