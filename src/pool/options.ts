// Pool options, checked, with their defaults: the size comes from the option, else the environment
// (NDSHM_PROCESSES for process pools, NDSHM_THREADS for thread pools; a number, or CPU_COUNT /
// DEFAULT), else os.availableParallelism(). Native libraries in worker processes get one thread each
// (NDSHM_NATIVE_THREADS or the nativeThreads option), so that size workers do not each start one
// OpenMP/BLAS thread per core.

import { availableParallelism } from 'node:os';
import type { ResourceLimits } from 'node:worker_threads';

import { invalid, show } from '../errors.js';
import { checkOptions } from '../options.js';
import { type TaskRef, normalizeTask } from './task.js';

export interface PoolOptions {
  /** Number of workers. Default: NDSHM_PROCESSES / NDSHM_THREADS, else os.availableParallelism(). */
  size?: number;
  /** A worker is replaced after this many units (Python's maxtasksperchild). Default: never. */
  maxTasksPerWorker?: number;
  /**
   * Threads for native libraries in each worker process: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS,
   * MKL_NUM_THREADS, VECLIB_MAXIMUM_THREADS and NUMEXPR_NUM_THREADS. Default: NDSHM_NATIVE_THREADS,
   * else 1. 0 leaves them as they are. (Worker threads share their process's native libraries.)
   */
  nativeThreads?: number;
  /**
   * Node options of the workers. Default: worker threads inherit this thread's; worker processes get
   * this process's, without the test runner's (--test...) and the inspector's (--inspect...: a second
   * process cannot listen on the same port).
   */
  execArgv?: readonly string[];
  /** Environment of worker processes (merged over this process's). */
  env?: Readonly<Record<string, string>>;
  /** Heap limits of worker threads (worker_threads' resourceLimits); EINVAL for process pools (use execArgv). */
  resourceLimits?: ResourceLimits;
  /**
   * Python's Pool `initializer`: a task ({ module, name }) each worker runs once when it starts, before
   * its first task, with `initargs`. If it throws, the worker ends and its tasks fail with EWORKERDIED
   * (the error as cause).
   */
  initializer?: TaskRef<readonly unknown[], unknown>;
  /** The initializer's arguments: JSON values (they travel in the worker's environment for processes). */
  initargs?: readonly unknown[];
}

export interface FilledOptions {
  readonly size: number;
  readonly maxTasksPerWorker: number;
  readonly nativeThreads: number;
  /** undefined: the default (threads inherit this thread's options; processes get this process's, see processExecArgv). */
  readonly execArgv: readonly string[] | undefined;
  readonly env: Readonly<Record<string, string>>;
  readonly resourceLimits: ResourceLimits | undefined;
  readonly init: { readonly module: string; readonly name: string; readonly args: readonly unknown[] } | undefined;
}

const keys = ['size', 'maxTasksPerWorker', 'nativeThreads', 'execArgv', 'env', 'resourceLimits', 'initializer', 'initargs'];
export const maxSize = 1024;

function positive(value: unknown, what: string, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
    throw invalid(`${what} must be an integer from 1 to ${max}, got ${show(value)}`);
  }
  return value;
}

function fromEnv(variable: string): number | undefined {
  const raw = process.env[variable];
  if (raw === undefined || raw.trim() === '') return undefined;
  const v = raw.trim().toUpperCase();
  if (v === 'CPU_COUNT' || v === 'DEFAULT') return undefined;
  if (!/^\d+$/.test(v)) throw invalid(`${variable} must be a positive integer, CPU_COUNT or DEFAULT, got ${show(raw)}`);
  return positive(Number(v), variable, maxSize);
}

export function defaultSize(kind: 'process' | 'thread'): number {
  return fromEnv(kind === 'process' ? 'NDSHM_PROCESSES' : 'NDSHM_THREADS') ?? availableParallelism();
}

const nativeVars = ['OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'VECLIB_MAXIMUM_THREADS', 'NUMEXPR_NUM_THREADS'];

export function fillOptions(options: PoolOptions | undefined, kind: 'process' | 'thread', where: string): FilledOptions {
  const o = checkOptions(options, keys, where);
  const size = o.size === undefined ? defaultSize(kind) : positive(o.size, `${where}: size`, maxSize);
  const maxTasksPerWorker = o.maxTasksPerWorker === undefined ? Infinity : positive(o.maxTasksPerWorker, `${where}: maxTasksPerWorker`, Number.MAX_SAFE_INTEGER);
  let nativeThreads: number;
  if (o.nativeThreads !== undefined) {
    if (typeof o.nativeThreads !== 'number' || !Number.isSafeInteger(o.nativeThreads) || o.nativeThreads < 0 || o.nativeThreads > 4096) {
      throw invalid(`${where}: nativeThreads must be an integer from 0 to 4096, got ${show(o.nativeThreads)}`);
    }
    nativeThreads = o.nativeThreads;
  } else {
    const raw = process.env['NDSHM_NATIVE_THREADS'];
    nativeThreads = raw === undefined || raw.trim() === '' ? 1 : /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
    if (!Number.isSafeInteger(nativeThreads)) throw invalid(`NDSHM_NATIVE_THREADS must be a non-negative integer, got ${show(raw)}`);
  }
  let execArgv: readonly string[] | undefined;
  if (o.execArgv === undefined) execArgv = undefined;
  else if (Array.isArray(o.execArgv) && o.execArgv.every((a: unknown) => typeof a === 'string')) execArgv = [...o.execArgv];
  else throw invalid(`${where}: execArgv must be an array of strings, got ${show(o.execArgv)}`);
  const env: Record<string, string> = {};
  if (o.env !== undefined) {
    if (typeof o.env !== 'object' || o.env === null || Array.isArray(o.env)) throw invalid(`${where}: env must be an object of strings`);
    for (const [k, v] of Object.entries(o.env)) {
      if (typeof v !== 'string') throw invalid(`${where}: env.${k} must be a string, got ${show(v)}`);
      env[k] = v;
    }
  }
  let resourceLimits: ResourceLimits | undefined;
  if (o.resourceLimits !== undefined) {
    if (kind === 'process') throw invalid(`${where}: resourceLimits are for worker threads; give worker processes execArgv such as ['--max-old-space-size=4096']`);
    if (typeof o.resourceLimits !== 'object' || o.resourceLimits === null) throw invalid(`${where}: resourceLimits must be an object`);
    resourceLimits = checkOptions(o.resourceLimits, ['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'], `${where}: resourceLimits`);
    for (const [k, v] of Object.entries(resourceLimits)) {
      if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw invalid(`${where}: resourceLimits.${k} must be a positive number, got ${show(v)}`);
    }
  }
  let init: FilledOptions['init'];
  if (o.initializer !== undefined) {
    const t = normalizeTask(o.initializer, `${where}: initializer`);
    const args = o.initargs ?? [];
    let json: string | undefined;
    try {
      json = Array.isArray(args) ? JSON.stringify(args) : undefined;
    } catch {
      json = undefined;
    }
    if (json === undefined) throw invalid(`${where}: initargs must be an array of JSON values, got ${show(o.initargs)}`);
    init = { module: t.module, name: t.name, args: JSON.parse(json) as unknown[] };
  } else if (o.initargs !== undefined) {
    throw invalid(`${where}: initargs without an initializer`);
  }
  return { size, maxTasksPerWorker, nativeThreads, execArgv, env, resourceLimits, init };
}

/** The environment of a worker process. */
export function processEnv(o: FilledOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  delete env['NODE_TEST_CONTEXT']; // a worker is not a test file
  if (o.nativeThreads > 0) for (const v of nativeVars) env[v] = String(o.nativeThreads);
  return Object.assign(env, o.env);
}

/** The Node options of a worker process. */
export function processExecArgv(o: FilledOptions): string[] {
  if (o.execArgv !== undefined) return [...o.execArgv];
  return process.execArgv.filter((a) => !a.startsWith('--test') && !a.startsWith('--inspect') && !a.startsWith('--debug'));
}
