// Tasks of the pool tests, run in worker threads, worker processes and SerialPool alike.

import { threadId } from 'node:worker_threads';

import { Counter, SharedNDArray, type StoreTree, defineTask, globRead, globRemove, globUpdate, isNdshmError, parallelEnabled } from '../../src/index.js';
import { currentWorker } from '../../src/pool/runtime.js';
import { Loose, Mesh, Splines } from './mesh.js';

export const add = defineTask(import.meta.url, 'add', (a: number, b: number) => a + b);

export function echo(x: unknown): unknown {
  return x;
}

/** Mutates its argument: the caller's copy must not change. */
export function mutate(o: { n: number; list: number[] }): number {
  o.n += 1;
  o.list.push(99);
  return o.n;
}

export function where(): { pid: number; threadId: number } {
  return { pid: process.pid, threadId };
}

export function fail(message: string, code: string): never {
  const err = new Error(message) as Error & { code: string; detail: { n: number } };
  err.code = code;
  err.detail = { n: 7 };
  throw err;
}

export async function failLater(message: string): Promise<never> {
  await Promise.resolve();
  throw new RangeError(message);
}

export function throwString(): never {
  throw 'just a string'; // eslint-disable-line no-throw-literal
}

export function openMissing(): SharedNDArray {
  return SharedNDArray.open('t-no-such-array');
}

export function unsendable(): unknown {
  return { f: () => 1 };
}

/** Writes v into every element of the caller's array and returns it (a view of the caller's memory). */
export function fill(a: SharedNDArray, v: number): SharedNDArray {
  a.fill(v);
  return a;
}

export function sum(a: SharedNDArray): number {
  let s = 0;
  for (const v of a.data as Float64Array) s += v;
  return s;
}

export function sumTree(tree: StoreTree): number {
  let s = 0;
  const walk = (node: StoreTree): void => {
    for (const v of Object.values(node)) {
      if (v !== null && typeof v === 'object' && 'data' in v && v.data instanceof SharedNDArray) s += sum(v.data);
      else walk(v as StoreTree);
    }
  };
  walk(tree);
  return s;
}

/** A new array, made in the worker: it must outlive the worker. */
export function make(n: number, v: number): SharedNDArray {
  return SharedNDArray.full([n], v, 'float64');
}

/** Two views of one new array, and a plain value. */
export function makeTwo(n: number): { whole: SharedNDArray; head: SharedNDArray; n: number } {
  const a = SharedNDArray.from(Array.from({ length: n }, (_, i) => i));
  return { whole: a, head: a.slice(`0:${Math.min(2, n)}`), n };
}

export function count(c: Counter, n: number): number {
  c.add(n);
  return n;
}

/** Waits until the counter reaches `target`, then returns `v`. */
export async function gate(c: Counter, target: number, v: unknown): Promise<unknown> {
  await c.waitFor(target);
  return v;
}

/**
 * Makes a 'local' array of its own named `ownName` (the worker's, to remove when it ends, however),
 * writes where it runs into `info` ([pid, threadId]), counts `started`, then never returns (until its
 * worker is ended).
 */
export async function hang(started: Counter, info: SharedNDArray, ownName?: string): Promise<never> {
  if (ownName !== undefined) kept.push(SharedNDArray.zeros([4], 'float64', { name: ownName }));
  info.set(0, process.pid);
  info.set(1, threadId);
  started.increment();
  return new Promise<never>(() => {
    setInterval(() => undefined, 1 << 30);
  });
}
const kept: SharedNDArray[] = [];

export function exitNow(code: number): never {
  process.exit(code);
}

/** An exception nobody catches, after the task began: the worker ends (never the pool). */
export function uncaughtLater(message: string): Promise<never> {
  setImmediate(() => {
    throw new Error(message);
  });
  return new Promise<never>(() => undefined);
}

export function readGlob(key: string): unknown {
  return globRead(key);
}

/** Reads `key`, counts `c`, then reads again until the value changes (an update by the caller). */
export async function awaitGlobChange(key: string, c: Counter): Promise<[unknown, unknown]> {
  const first = globRead(key);
  c.increment();
  for (;;) {
    const now = globRead(key);
    if (now !== first) return [first, now];
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (err) {
    return isNdshmError(err) ? err.code : `not an NdshmError: ${String(err)}`;
  }
}

export function tryUpdateGlob(key: string): string {
  return codeOf(() => globUpdate(key, 'from a worker'));
}

export function tryRemoveGlob(key: string): string {
  return codeOf(() => globRemove(key));
}

export function tryReadGlob(key: string): string {
  return codeOf(() => globRead(key));
}

export function inspectMesh(m: Mesh): { isMesh: boolean; total: number; unit: string; label: string; write: string } {
  const seen = { isMesh: m instanceof Mesh, total: m.total(), unit: m.meta!.unit, label: m.label };
  const write = codeOf(() => {
    m.meta = { unit: 'changed', n: 0 };
  });
  return { ...seen, write };
}

export function returnMesh(m: Mesh): Mesh {
  return m;
}

export function inspectSplines(s: Splines): { isSplines: boolean; knots: number[] | undefined; order: number } {
  return { isSplines: s instanceof Splines, knots: s.knots, order: s.order };
}

export function inspectLoose(l: Loose): { values: number[] | undefined; name: string } {
  return { values: l.values, name: l.name };
}

export function parallel(): boolean {
  return parallelEnabled();
}

/** The pool worker this task runs in (the host-group hook), or null outside pool workers. */
export function workerInfo(): unknown {
  return currentWorker() ?? null;
}
