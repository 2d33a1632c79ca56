// Arrays inside any message: packArrays replaces every SharedNDArray in a value (objects, arrays,
// Maps, Sets, nested) by a small marker holding its handle, so the message crosses postMessage,
// child_process IPC (json or advanced) or JSON; unpackArrays turns the markers back into arrays.

import { invalid } from '../errors.js';
import { setOwn } from '../tree.js';
import { SharedNDArray } from './array.js';
import { type SharedNDArrayHandle, isHandle } from './handle.js';
import type { ArrayOpenOptions } from './open.js';

const marker = '@ndshm';

export interface PackedArray {
  readonly [marker]: SharedNDArrayHandle;
}

function isPacked(value: unknown): value is PackedArray {
  return typeof value === 'object' && value !== null && isHandle((value as Record<string, unknown>)[marker]);
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function walk(value: unknown, visit: (v: unknown) => unknown | typeof skip, seen: Map<object, unknown>): unknown {
  const replaced = visit(value);
  if (replaced !== skip) return replaced;
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
  if (seen.has(value)) return seen.get(value);
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const item of value) out.push(walk(item, visit, seen));
    return out;
  }
  if (value instanceof Map) {
    const out = new Map();
    seen.set(value, out);
    for (const [k, v] of value) out.set(walk(k, visit, seen), walk(v, visit, seen));
    return out;
  }
  if (value instanceof Set) {
    const out = new Set();
    seen.set(value, out);
    for (const v of value) out.add(walk(v, visit, seen));
    return out;
  }
  if (!isPlainObject(value)) return value;
  // The copy keeps the original's prototype (Object.prototype or null); a "__proto__" key stays an
  // own key, as in the original.
  const out = Object.create(Object.getPrototypeOf(value) as object | null) as Record<string, unknown>;
  seen.set(value, out);
  for (const [k, v] of Object.entries(value)) setOwn(out, k, walk(v, visit, seen));
  return out;
}

const skip = Symbol('skip');

/** A copy of `value` with every SharedNDArray replaced by its handle (a local copy is an error). */
export function packArrays<T>(value: T): T extends object ? object : T {
  return walk(
    value,
    (v) => {
      if (!(v instanceof SharedNDArray)) return skip;
      if (!v.isShared()) throw invalid('packArrays: a local array (made by an index array) is not in shared memory; SharedNDArray.from(it) shares it');
      return { [marker]: v.handle };
    },
    new Map(),
  ) as T extends object ? object : T;
}

/** A copy of `value` with every packed handle opened as a SharedNDArray. */
export function unpackArrays<T = unknown>(value: unknown, options?: ArrayOpenOptions): T {
  return walk(value, (v) => (isPacked(v) ? SharedNDArray.open(v[marker], options) : skip), new Map()) as T;
}

interface MessageTarget {
  postMessage?(message: unknown, transfer?: readonly unknown[]): void;
  send?(message: unknown, ...rest: unknown[]): boolean;
}

/** Sends `message` with its arrays packed, to a Worker, MessagePort, parentPort or ChildProcess. */
export function sendArrays(target: MessageTarget, message: unknown): void {
  if ((typeof target !== 'object' && typeof target !== 'function') || target === null) throw invalid('sendArrays: the target must be a Worker, MessagePort, parentPort or ChildProcess');
  const packed = packArrays(message);
  if (typeof target.postMessage === 'function') target.postMessage(packed);
  else if (typeof target.send === 'function') target.send(packed);
  else throw invalid('sendArrays: the target has neither postMessage nor send');
}

// Compile the message walk at import too (see primeOpenPath in array.ts).
walk({ list: [1, { nested: 'x' }], map: new Map([[1, 2]]), set: new Set([3]) }, (v) => (isPacked(v) ? v : skip), new Map());

