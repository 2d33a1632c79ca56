// What crosses between a pool's caller and its workers (and into the glob store): any value that
// structured clone carries, in which every SharedNDArray becomes its handle ({ "@ndshm": handle }, the
// marker packArrays uses), every Counter, Mutex and Barrier its sync handle, and every instance with
// glob-stored attributes its keys. The other side turns the markers back into objects.

import { NdshmError, invalid, isNdshmError, show } from '../errors.js';
import { SharedNDArray, blockOf, makeArray } from '../ndarray/array.js';
import { type Block, offerBlock } from '../ndarray/block.js';
import { type SharedNDArrayHandle, checkHandle } from '../ndarray/handle.js';
import { viewOf } from '../ndarray/open.js';
import { Barrier } from '../sync/barrier.js';
import { Counter } from '../sync/counter.js';
import { Mutex } from '../sync/mutex.js';
import { descend, mapObjects } from '../tree.js';
import { type AttachCache, blockKey, viewKey } from './attach-cache.js';
import { type GlobInstance, describeGlobInstance, reviveGlobInstance } from './glob/attributes.js';

export const arrayMarker = '@ndshm';
/** A lent view, by its view key (attach-cache.ts). */
export const lentMarker = '@ndshm-v';
export const syncMarker = '@ndshm-sync';
export const globMarker = '@ndshm-glob';

const skip = descend;
type Visit = (v: object) => unknown;
const walk = mapObjects;

function marker(value: object, key: string): unknown {
  return Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
}

function isSync(v: unknown): v is Counter | Mutex | Barrier {
  return v instanceof Counter || v instanceof Mutex || v instanceof Barrier;
}

function arrayHandle(a: SharedNDArray, where: string): SharedNDArrayHandle {
  if (!a.isShared()) throw invalid(`${where}: a local array (made by an index array) is not in shared memory; SharedNDArray.from(it) shares it`);
  return a.handle;
}

/** A handle without its adoption offer: an array lent to a task is never taken over by the worker. */
function lent(h: SharedNDArrayHandle): SharedNDArrayHandle {
  if (h.offer === undefined) return h;
  const { ndshm, name, id, dtype, shape, strides, offset, scope } = h;
  return { ndshm, name, id, dtype, shape, strides, offset, scope, ...(h.raw ? { raw: true as const } : {}) };
}

function packGlob(g: GlobInstance, visit: Visit, seen: Map<object, unknown>): unknown {
  return { [globMarker]: { cls: g.cls, attrs: g.attrs, keys: g.keys, props: walk(g.props, visit, seen) } };
}

// ----- the caller's side -----------------------------------------------------------------------

interface LentMarker {
  readonly marker: object;
  readonly key: string;
  readonly block: Block;
}

// A SharedNDArray's marker is the same every time it is lent (its view never changes): made once.
const markers = new WeakMap<SharedNDArray, LentMarker>();

function lend(v: SharedNDArray): LentMarker {
  const known = markers.get(v);
  if (known !== undefined && !known.block.released) return known;
  const h = lent(arrayHandle(v, 'a task argument')); // ECLOSED for a released array
  const key = blockKey(h.name, h.id, v.readOnly);
  // A raw handle (an array another tool made) travels whole; the others by their view key.
  const marker = h.raw ? (v.readOnly ? { [arrayMarker]: h, ro: 1 } : { [arrayMarker]: h }) : { [lentMarker]: viewKey(h, v.readOnly) };
  const made = { marker, key, block: blockOf(v) };
  markers.set(v, made);
  return made;
}

function isPrimitive(v: unknown): boolean {
  return typeof v !== 'object' || v === null;
}

/**
 * Task arguments (one call's list): arrays become handles (lent, never offered); `sent()` collects the
 * caller's blocks by key, so that the result's views of them come back over the same memory.
 */
export function packArgs(args: readonly unknown[], sent: () => Map<string, Block>): unknown[] {
  // The common cases without a walk: primitives, and arrays given as arguments themselves.
  if (args.every((a) => isPrimitive(a) || a instanceof SharedNDArray)) {
    return args.map((a) => {
      if (!(a instanceof SharedNDArray)) return a;
      const m = lend(a);
      sent().set(m.key, m.block);
      return m.marker;
    });
  }
  const seen = new Map<object, unknown>();
  const visit: Visit = (v) => {
    if (v instanceof SharedNDArray) {
      const m = lend(v);
      sent().set(m.key, m.block);
      return m.marker;
    }
    if (isSync(v)) return { [syncMarker]: v.handle };
    const g = describeGlobInstance(v);
    if (g !== undefined) return packGlob(g, visit, seen);
    return skip;
  };
  return walk(args, visit, seen) as unknown[];
}

/**
 * A result, in the caller: views of the arrays it sent are made over its own blocks; other arrays are
 * opened (and adopted when the worker handed them over); `adopted` collects the names adopted.
 */
export function unpackResult(value: unknown, sent: ReadonlyMap<string, Block> | undefined, adopted: string[], made: SharedNDArray[]): unknown {
  if (isPrimitive(value)) return value;
  const opened = new Map<string, Block>();
  const first = made.length;
  const visit: Visit = (v) => {
    const h = marker(v as object, arrayMarker);
    if (h !== undefined) {
      const handle = checkHandle(h);
      const readOnly = (v as { ro?: unknown }).ro === 1;
      const key = blockKey(handle.name, handle.id, readOnly);
      const block = sent?.get(key) ?? opened.get(key);
      if (block !== undefined && !block.released) {
        const { layout, dtype } = viewOf(block, handle);
        return makeArray(block, layout, dtype);
      }
      const a = SharedNDArray.open(handle, { readOnly });
      made.push(a);
      const b = blockOf(a);
      opened.set(key, b);
      if (handle.offer !== undefined && b.owned) adopted.push(handle.name);
      return a;
    }
    const s = marker(v as object, syncMarker);
    if (s !== undefined) return openSync(s);
    const g = marker(v as object, globMarker);
    if (g !== undefined) return reviveGlob(g, visit, new Map());
    return skip;
  };
  try {
    return walk(value, visit, new Map());
  } catch (err) {
    for (const a of made.splice(first)) a.release();
    throw err;
  }
}

function openSync(h: unknown): Counter | Mutex | Barrier {
  const kind = typeof h === 'object' && h !== null ? (h as { kind?: unknown }).kind : undefined;
  if (kind === 'counter') return Counter.open(h as never);
  if (kind === 'mutex') return Mutex.open(h as never);
  if (kind === 'barrier') return Barrier.open(h as never);
  throw invalid(`not a sync handle: ${show(h)}`);
}

function reviveGlob(g: unknown, visit: Visit, seen: Map<object, unknown>): unknown {
  if (typeof g !== 'object' || g === null) throw invalid('a malformed glob-stored instance');
  const d = g as { cls?: unknown; attrs?: unknown; keys?: unknown; props?: unknown };
  return reviveGlobInstance(d.cls, d.attrs, d.keys, walk(d.props, visit, seen));
}

/** The arrays in a value whose memory is not one of `except`'s (the new arrays of a result). */
export function newArrays(value: unknown, except: ReadonlySet<Block>): SharedNDArray[] {
  const found: SharedNDArray[] = [];
  walk(value, (v) => {
    if (v instanceof SharedNDArray) {
      if (!except.has(blockOf(v))) found.push(v);
      return v;
    }
    return skip;
  }, new Map());
  return found;
}

/** The blocks of the arrays in a value. */
export function blocksIn(value: unknown): Set<Block> {
  const found = new Set<Block>();
  walk(value, (v) => {
    if (v instanceof SharedNDArray) {
      found.add(blockOf(v));
      return v;
    }
    return skip;
  }, new Map());
  return found;
}

// ----- the worker's side -----------------------------------------------------------------------

function isMarker(v: unknown): boolean {
  return !isPrimitive(v) && (Object.hasOwn(v as object, lentMarker) || Object.hasOwn(v as object, arrayMarker));
}

function arrayFrom(v: object, cache: AttachCache): SharedNDArray {
  const k = marker(v, lentMarker);
  if (k !== undefined) return cache.lent(k);
  return cache.view(marker(v, arrayMarker), (v as { ro?: unknown }).ro === 1);
}

/** Task arguments, in a worker: views over the thread's attach cache. */
export function unpackArgs(value: unknown, cache: AttachCache): unknown {
  if (Array.isArray(value) && value.every((a) => isPrimitive(a) || isMarker(a))) {
    return value.map((a) => (isPrimitive(a) ? a : arrayFrom(a as object, cache)));
  }
  const visit: Visit = (v) => {
    if (isMarker(v)) return arrayFrom(v as object, cache);
    const s = marker(v as object, syncMarker);
    if (s !== undefined) return cache.sync(s);
    const g = marker(v as object, globMarker);
    if (g !== undefined) return reviveGlob(g, visit, new Map());
    return skip;
  };
  return walk(value, visit, new Map());
}

/**
 * A result, in a worker. Arrays this thread created are handed to the caller: a 'local' one is
 * offered for adoption ('remote'), and `release` collects the mappings to release once the result is
 * sent (the worker no longer uses them). Arrays from the attach cache (the task's arguments) and
 * arrays with scope null (they outlive processes; releasing them would remove them) stay.
 */
export function packResult(value: unknown, cache: AttachCache, release: Set<Block>): unknown {
  if (isPrimitive(value)) return value;
  const seen = new Map<object, unknown>();
  const visit: Visit = (v) => {
    if (v instanceof SharedNDArray) {
      const block = blockOf(v);
      if (!cache.has(block) && !block.released) {
        if (!block.owned) release.add(block); // the task opened it: the caller opens it anew
        else if (block.scope === 'remote') release.add(block); // offered already
        else if (block.scope === 'local' && offerBlock(block)) release.add(block);
        // scope null: outlives processes; its creator's release would remove it, so it stays
      }
      return { [arrayMarker]: arrayHandle(v, 'a task result') };
    }
    if (isSync(v)) return { [syncMarker]: v.handle };
    const g = describeGlobInstance(v);
    if (g !== undefined) return packGlob(g, visit, seen);
    return skip;
  };
  return walk(value, visit, seen);
}

// ----- the glob store ------------------------------------------------------------------------------

/** A value for the glob store: arrays by handle (lent), sync objects and glob instances by key. */
export function packStored(value: unknown): unknown {
  const seen = new Map<object, unknown>();
  const visit: Visit = (v) => {
    if (v instanceof SharedNDArray) {
      const h = lent(arrayHandle(v, 'globStore'));
      return v.readOnly ? { [arrayMarker]: h, ro: 1 } : { [arrayMarker]: h };
    }
    if (isSync(v)) return { [syncMarker]: v.handle };
    const g = describeGlobInstance(v);
    if (g !== undefined) return packGlob(g, visit, seen);
    return skip;
  };
  return walk(value, visit, seen);
}

// ----- in this thread (SerialPool) -----------------------------------------------------------------

/**
 * What a worker would get, without a worker: a structured clone of `value` in which arrays, sync
 * objects and glob instances are the same objects (they are shared in the real pools too).
 */
export function cloneThrough(value: unknown, where: string): unknown {
  const kept: object[] = [];
  const refMarker = '@ndshm-ref';
  const out = walk(value, (v) => {
    if (v instanceof SharedNDArray) arrayHandle(v, where);
    if (v instanceof SharedNDArray || isSync(v) || describeGlobInstance(v) !== undefined) {
      kept.push(v as object);
      return { [refMarker]: kept.length - 1 };
    }
    return skip;
  }, new Map());
  let cloned: unknown;
  try {
    cloned = structuredClone(out);
  } catch (err) {
    throw cannotSend(where, err);
  }
  if (kept.length === 0) return cloned;
  return walk(cloned, (v) => {
    const i = marker(v as object, refMarker);
    return typeof i === 'number' ? kept[i] : skip;
  }, new Map());
}

/** A value that structured clone refuses (a function, a symbol, a class with private state...). */
export function cannotSend(where: string, err: unknown): NdshmError {
  if (isNdshmError(err)) return err;
  const why = err instanceof Error ? err.message : show(err);
  return new NdshmError('EINVAL', `${where} cannot be sent to a worker: ${why}`, { cause: err });
}
