// The arrays and sync objects a pool worker (or a glob-store reader) opened, kept open from task to
// task: opening an array costs ~15–30 µs and releasing it ~10–40 µs, a hit costs a Map lookup. One
// cache per thread. Entries go when the caller releases its array (the pool sends an eviction), when
// more than `maxBlocks` are open (least recently used first), when a task released one itself, or
// when the worker ends. Evictions are applied between tasks, never under a running one.

import { SharedNDArray, blockOf, makeArray } from '../ndarray/array.js';
import { type Block, openBlock } from '../ndarray/block.js';
import { type SharedNDArrayHandle, checkHandle } from '../ndarray/handle.js';
import { viewOf } from '../ndarray/open.js';
import { Barrier } from '../sync/barrier.js';
import { Counter } from '../sync/counter.js';
import type { SyncHandle } from '../sync/handle.js';
import { Mutex } from '../sync/mutex.js';
import { invalid } from '../errors.js';

export const maxBlocks = 256;
const maxViews = 4096;
const maxSync = 256;

export type SyncObject = Counter | Mutex | Barrier;

/** The cache key of a handle's array: its segment, the array's id, and read-only or not. */
export function blockKey(name: string, id: string, readOnly: boolean): string {
  return readOnly ? `${name}:${id}:r` : `${name}:${id}`;
}

/**
 * A lent view in one string (a pool sends it instead of the handle object: a twentieth of the cost
 * to clone): "name:id[:r]|dtype|offset|shape|strides" (byte offset and strides, as in a handle).
 */
export function viewKey(h: SharedNDArrayHandle, readOnly: boolean): string {
  return `${blockKey(h.name, h.id, readOnly)}|${h.dtype}|${h.offset}|${h.shape.join(',')}|${h.strides.join(',')}`;
}

function parseViewKey(k: string): { handle: SharedNDArrayHandle; readOnly: boolean } {
  const [key = '', dtype = '', offset = '', shape = '', strides = '', ...rest] = k.split('|');
  const [name = '', id = '', r, ...more] = key.split(':');
  if (rest.length > 0 || more.length > 0 || (r !== undefined && r !== 'r')) throw invalid('a malformed array reference in a task message');
  const ints = (s: string): number[] => (s === '' ? [] : s.split(',').map(Number));
  const handle = checkHandle({ ndshm: 1, name, id, dtype, shape: ints(shape), strides: ints(strides), offset: Number(offset), scope: 'local' });
  return { handle, readOnly: r === 'r' };
}

export class AttachCache {
  readonly #blocks = new Map<string, Block>();
  readonly #views = new Map<string, SharedNDArray>();
  readonly #cached = new WeakSet<Block>();
  readonly #sync = new Map<string, SyncObject>();
  /** Arrays opened outside the cache for the running task (raw handles), released when it ends. */
  readonly #transient: SharedNDArray[] = [];
  #pendingEvictions: string[] = [];
  readonly #retired: Block[] = [];
  hits = 0;
  misses = 0;

  /** A view of the array a handle names, over a cached mapping when there is one. */
  view(h: unknown, readOnly: boolean): SharedNDArray {
    return this.#view(h, readOnly);
  }

  /**
   * The view a pool's caller lent, named by its view key (see viewKey): the same view object as
   * before when the mapping is still open, else made from the key (checked as any handle).
   */
  lent(k: unknown): SharedNDArray {
    if (typeof k !== 'string') throw invalid('a malformed array reference in a task message');
    const known = this.#views.get(k);
    if (known !== undefined && !blockOf(known).released) {
      this.hits++;
      return known;
    }
    const { handle, readOnly } = parseViewKey(k);
    const made = this.#view(handle, readOnly);
    if (this.#views.size >= maxViews) this.#views.clear();
    this.#views.set(k, made);
    return made;
  }

  #view(h: unknown, readOnly: boolean): SharedNDArray {
    const handle: SharedNDArrayHandle = checkHandle(h);
    if (handle.raw) {
      const a = SharedNDArray.open({ ...handle, scope: null, offer: undefined } as SharedNDArrayHandle, { readOnly });
      this.#transient.push(a);
      return a;
    }
    const key = blockKey(handle.name, handle.id, readOnly);
    let block = this.#blocks.get(key);
    if (block !== undefined && !block.released) {
      this.hits++;
      this.#blocks.delete(key); // most recently used last
      this.#blocks.set(key, block);
    } else {
      this.misses++;
      this.#blocks.delete(key);
      block = openBlock(handle.name, { readOnly }).block;
      this.#blocks.set(key, block);
      this.#cached.add(block);
      if (this.#blocks.size > maxBlocks) this.#trim();
    }
    try {
      const { layout, dtype } = viewOf(block, handle);
      return makeArray(block, layout, dtype);
    } catch (err) {
      // A stale handle (the name now names another array) or a view outside the data.
      this.#blocks.delete(key);
      block.release();
      throw err;
    }
  }

  /** This block is one of the cache's (a task's argument): a result that holds it is not handed over. */
  has(block: Block): boolean {
    return this.#cached.has(block) && !block.released;
  }

  /** The Counter, Mutex or Barrier a handle names, opened once per thread. */
  sync(h: unknown): SyncObject {
    if (typeof h !== 'object' || h === null) throw invalid('not a sync handle');
    const handle = h as SyncHandle;
    const key = `${handle.kind}:${handle.name}:${handle.id}`;
    const known = this.#sync.get(key);
    if (known !== undefined && !known.closed) return known;
    let made: SyncObject;
    if (handle.kind === 'counter') made = Counter.open(handle);
    else if (handle.kind === 'mutex') made = Mutex.open(handle);
    else if (handle.kind === 'barrier') made = Barrier.open(handle);
    else throw invalid(`unknown sync object kind in a handle: ${String(handle.kind)}`);
    this.#sync.set(key, made);
    if (this.#sync.size > maxSync) {
      for (const [k, o] of this.#sync) {
        if (this.#sync.size <= maxSync) break;
        if (tryClose(o)) this.#sync.delete(k);
      }
    }
    return made;
  }

  /** Queues evictions (the caller released these arrays); `apply` runs them between tasks. */
  evictLater(keys: readonly string[]): void {
    for (const k of keys) this.#pendingEvictions.push(k, `${k}:r`);
  }

  /** Runs the queued evictions and releases the running task's transient arrays. */
  apply(): void {
    for (const a of this.#transient.splice(0)) a.release();
    for (const b of this.#retired.splice(0)) b.release();
    if (this.#pendingEvictions.length === 0) return;
    const keys = this.#pendingEvictions;
    this.#pendingEvictions = [];
    for (const k of keys) {
      const b = this.#blocks.get(k);
      if (b === undefined) continue;
      this.#blocks.delete(k);
      b.release();
    }
  }

  get size(): number {
    return this.#blocks.size;
  }

  /** Releases everything (the worker is ending). */
  clear(): void {
    this.apply();
    for (const b of this.#blocks.values()) b.release();
    this.#blocks.clear();
    this.#views.clear();
    for (const o of this.#sync.values()) tryClose(o);
    this.#sync.clear();
  }

  // The least recently used go, released between tasks (the running task may hold views of them).
  #trim(): void {
    for (const [k, b] of this.#blocks) {
      if (this.#blocks.size <= maxBlocks) break;
      this.#blocks.delete(k);
      this.#retired.push(b);
    }
  }
}

function tryClose(o: SyncObject): boolean {
  try {
    o.close();
    return true;
  } catch {
    return false; // a Mutex this thread holds stays open
  }
}

/** This thread's cache (pool workers and glob-store readers share it). */
export const attachCache = new AttachCache();
