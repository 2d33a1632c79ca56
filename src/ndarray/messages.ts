// Arrays inside any message: packArrays replaces every SharedNDArray in a value (objects, arrays,
// Maps, Sets, nested) by a small marker holding its handle, so the message crosses postMessage,
// child_process IPC (json or advanced) or JSON; unpackArrays turns the markers back into arrays.

import { invalid } from '../errors.js';
import { descend, mapObjects } from '../tree.js';
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

/** A copy of `value` with every SharedNDArray replaced by its handle (a local copy is an error). */
export function packArrays<T>(value: T): T extends object ? object : T {
  return mapObjects(
    value,
    (v) => {
      if (!(v instanceof SharedNDArray)) return descend;
      if (!v.isShared()) throw invalid('packArrays: a local array (made by an index array) is not in shared memory; SharedNDArray.from(it) shares it');
      return { [marker]: v.handle };
    },
  ) as T extends object ? object : T;
}

/** A copy of `value` with every packed handle opened as a SharedNDArray. */
export function unpackArrays<T = unknown>(value: unknown, options?: ArrayOpenOptions): T {
  const opened: SharedNDArray[] = [];
  try {
    return mapObjects(value, (v) => {
      if (!isPacked(v)) return descend;
      const array = SharedNDArray.open(v[marker], options);
      opened.push(array);
      return array;
    }) as T;
  } catch (err) {
    for (const a of opened) a.release(); // a message that fails part-way leaves nothing open
    throw err;
  }
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

// Compile the message walk at import too (see primeOpenPath in open.ts).
mapObjects({ list: [1, { nested: 'x' }], map: new Map([[1, 2]]), set: new Set([3]) }, (v) => (isPacked(v) ? v : descend));

