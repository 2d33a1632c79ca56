// pyGSTi's sharedmemtools: createSharedNdarray (collective: the leader allocates, the handle travels
// in the same round that checks every member's arguments, the others attach), cleanupSharedNdarray
// (collective, idempotent) and sharedMemIsEnabled.
//
// Fixed against pyGSTi: zeroOut is free and race-free (fresh segments are zero: ndshm reserves the
// pages with posix_fallocate, nobody fills anything); memory is tracked in real bytes, once per host;
// a failure on any member (ENOSPC at the leader, ENOMEM in a tracker, arguments that differ) fails the
// call on every member in the same round; a dead member is EPEERDIED, not a hang.

import { type DType, type DTypeLike, dtype as toDType } from '../dtype.js';
import { NdshmError, invalid, isNdshmError, show } from '../errors.js';
import { SharedNDArray, makeArray } from '../ndarray/array.js';
import { Block } from '../ndarray/block.js';
import type { SharedNDArrayHandle } from '../ndarray/handle.js';
import { contiguousStrides } from '../ndarray/layout.js';
import { checkBoolean, checkOptions } from '../options.js';
import { checkShape, elementCount } from '../shape.js';
import { type Contribution, HostGroup, exchange, usable } from './host-group.js';
import * as L from './layout.js';
import { ResourceAllocation } from './resource.js';

export interface CreateSharedNdarrayOptions {
  /** Zero-filled rather than uninitialized. ndshm's memory is always zero when new, so this costs nothing. */
  zeroOut?: boolean;
  /** A ResourceAllocation whose tracker is charged the array's bytes (shared ones once per host). */
  memoryTracker?: ResourceAllocation | null;
  /** Milliseconds to wait for the other members (default: the group's collectiveTimeout). */
  timeout?: number;
  signal?: AbortSignal;
}

export interface CleanupOptions {
  timeout?: number;
  signal?: AbortSignal;
}

/**
 * pyGSTi's sharedmemtools.shared_mem_is_enabled(): true unless NDSHM_USE_SHARED_MEMORY is set to
 * something other than '1', 'True' or 'true' (as PYGSTI_USE_SHARED_MEMORY).
 */
export function sharedMemIsEnabled(): boolean {
  const v = process.env['NDSHM_USE_SHARED_MEMORY'];
  return v === undefined || v === '1' || v === 'True' || v === 'true';
}

interface ShmState {
  readonly array: SharedNDArray;
  readonly group: HostGroup;
  readonly tracker: ResourceAllocation | null;
  readonly nbytes: number;
  cleaned: boolean;
}

const states = new WeakMap<HostSharedMemory, ShmState>();
let constructing = false;
let make: (state: ShmState) => HostSharedMemory;

/** The `shm` of `[array, shm]`: what cleanupSharedNdarray takes (pyGSTi's SharedMemory object). */
export class HostSharedMemory {
  /** The segment's name. */
  readonly name: string;
  /** The array's bytes. */
  readonly size: number;
  /** The whole array's handle (SharedNDArray.open and python/ndshm.py open it). */
  readonly handle: SharedNDArrayHandle;

  private constructor(name: string, size: number, handle: SharedNDArrayHandle) {
    if (!constructing) throw invalid('HostSharedMemory objects are made by createSharedNdarray, not by new');
    this.name = name;
    this.size = size;
    this.handle = Object.freeze({ ...handle, shape: Object.freeze([...handle.shape]), strides: Object.freeze([...handle.strides]) });
  }

  /** True once cleanupSharedNdarray has run for it here. */
  get released(): boolean {
    return states.get(this)?.cleaned ?? true;
  }

  static {
    make = (state) => {
      constructing = true;
      try {
        const shm = new HostSharedMemory(state.array.name!, state.nbytes, state.array.handle);
        states.set(shm, state);
        return shm;
      } finally {
        constructing = false;
      }
    };
  }
}

/** A zero-filled SharedNDArray over private memory (not shared; no handle). */
function privateArray(dt: DType, shape: readonly number[], where: string): SharedNDArray {
  const nbytes = elementCount(shape) * dt.itemsize;
  let buffer: ArrayBuffer;
  try {
    buffer = new ArrayBuffer(nbytes);
  } catch (err) {
    throw new NdshmError('ETOOBIG', `${where}: cannot allocate ${nbytes} bytes of private memory (${(err as Error).message})`, { cause: err });
  }
  const strides = contiguousStrides(shape);
  const block = new Block({
    local: buffer,
    dtype: dt,
    dataOffset: 0,
    dataLength: nbytes,
    base: { shape, strides },
    readOnly: false,
    owned: false,
    scope: null,
    arrayId: 0n,
  });
  return makeArray(block, { shape, strides, offset: 0 }, dt);
}

function checkTracker(tracker: unknown, where: string): ResourceAllocation | null {
  if (tracker === undefined || tracker === null) return null;
  if (!(tracker instanceof ResourceAllocation)) throw invalid(`${where}: memoryTracker must be a ResourceAllocation or null, got ${show(tracker)}`);
  return tracker;
}

/**
 * pyGSTi's create_shared_ndarray. With a host group of two or more members (and shared memory
 * enabled, and at least one element) this is a collective call: every member calls it with the same
 * shape and dtype; rank 0 creates the array, the others attach; each gets a SharedNDArray over the
 * same memory and the `shm` to pass to cleanupSharedNdarray. Otherwise a private array and null.
 */
export async function createSharedNdarray(
  resourceAlloc: ResourceAllocation | null,
  shape: readonly number[] | number,
  dtype?: DTypeLike,
  options?: CreateSharedNdarrayOptions,
): Promise<[SharedNDArray, HostSharedMemory | null]> {
  const where = 'createSharedNdarray';
  if (resourceAlloc !== null && resourceAlloc !== undefined && !(resourceAlloc instanceof ResourceAllocation)) {
    throw invalid(`${where}: resourceAlloc must be a ResourceAllocation or null, got ${show(resourceAlloc)}`);
  }
  const hostGroup = sharedMemIsEnabled() ? (resourceAlloc?.hostGroup ?? null) : null;
  const collective = hostGroup !== null && hostGroup.size > 1;
  // Every argument error of a member in a collective call is that call's failure on every member.
  let dt: DType | undefined;
  let dims: number[] | undefined;
  let tracker: ResourceAllocation | null = null;
  let timeout: unknown;
  let signal: unknown;
  let failure: unknown;
  try {
    const opts = checkOptions(options, ['zeroOut', 'memoryTracker', 'timeout', 'signal'], where);
    checkBoolean(opts.zeroOut, 'zeroOut', false);
    tracker = checkTracker(opts.memoryTracker, where);
    timeout = opts.timeout;
    signal = opts.signal;
    dt = toDType((dtype ?? 'float64') as string);
    dims = checkShape(shape, 'shape', dt.itemsize);
  } catch (err) {
    if (!collective) throw err;
    failure = err;
  }
  if (!collective) {
    const array = privateArray(dt!, dims!, where);
    tracker?.addTrackedMemory(array.nbytes);
    return [array, null];
  }
  // Collective even for an empty array: every member takes part in the round, so that members that
  // ask for different shapes (one of them empty) all learn it in that round instead of waiting.
  const empty = failure === undefined && elementCount(dims!) === 0;
  const group = hostGroup!;
  const nbytes = failure === undefined ? elementCount(dims!) * dt!.itemsize : 0;
  const spec = failure === undefined ? `${dt!.typestr}[${dims!.join(',')}]` : '';
  let array: SharedNDArray | undefined;
  let tracked = false;
  let mine: Contribution;
  try {
    if (failure !== undefined) throw failure;
    if (!empty) {
      tracker?.addTrackedMemory(nbytes, { shared: true });
      tracked = true;
      if (group.isLeader) array = SharedNDArray.zeros(dims!, dt);
    }
    mine = { json: JSON.stringify({ spec, handle: array?.handle }) };
  } catch (err) {
    mine = { error: err };
  }
  try {
    const replies = await exchange(group, L.Op.Create, 0, mine, { timeout, signal }, where);
    const specs = replies.map((r) => {
      try {
        const v = JSON.parse(r.json ?? 'null') as { spec?: unknown; handle?: unknown } | null;
        return { spec: v?.spec, handle: v?.handle };
      } catch {
        return { spec: undefined, handle: undefined };
      }
    });
    if (specs.some((s) => s.spec !== spec)) {
      throw invalid(`${where}: the members of host group "${group.name}" asked for different arrays (${specs.map((s, r) => `rank ${r}: ${typeof s.spec === 'string' ? s.spec : '?'}`).join('; ')})`);
    }
    if (empty) {
      // every member asked for this same empty array: nothing to share
      const array = privateArray(dt!, dims!, where);
      tracker?.addTrackedMemory(array.nbytes);
      return [array, null];
    }
    if (!group.isLeader) {
      const handle = specs[0]!.handle;
      if (!SharedNDArray.isHandle(handle)) throw new NdshmError('EBADHEADER', `${where}: host group "${group.name}": rank 0 sent no array handle`);
      array = SharedNDArray.open(handle);
      if (array.dtype.typestr !== dt!.typestr || array.shape.join() !== dims!.join() || array.order !== 'C') {
        const got = `${array.dtype.typestr}[${array.shape.join(',')}]`;
        array.release();
        array = undefined;
        throw new NdshmError('EBADHEADER', `${where}: host group "${group.name}": rank 0's array is ${got}, not ${spec}`);
      }
    }
    return [array!, make({ array: array!, group, tracker, nbytes, cleaned: false })];
  } catch (err) {
    if (tracked) tracker?.addTrackedMemory(-nbytes, { shared: true });
    array?.release();
    throw err;
  }
}

/**
 * pyGSTi's cleanup_shared_ndarray: collective (every member calls it once its use, and its helpers'
 * use, of the array is over); each member's mapping ends, and rank 0 removes the segment. null does
 * nothing; a second call does nothing. If the group is broken (a member died or left) or closed, this
 * member releases its part without waiting. The segment goes in any case when rank 0 ends.
 */
export async function cleanupSharedNdarray(shm: HostSharedMemory | null, options?: CleanupOptions): Promise<void> {
  const where = 'cleanupSharedNdarray';
  if (shm === null || shm === undefined) return;
  const state = shm instanceof HostSharedMemory ? states.get(shm) : undefined;
  if (state === undefined) throw invalid(`${where}: shm must be what createSharedNdarray returned (or null), got ${show(shm)}`);
  checkOptions(options, ['timeout', 'signal'], where);
  if (state.cleaned) return;
  state.cleaned = true;
  let failure: unknown;
  if (usable(state.group)) {
    try {
      await exchange(state.group, L.Op.Cleanup, 0, {}, options, where);
    } catch (err) {
      // A group that can no longer meet cannot stop the release.
      if (!isNdshmError(err, 'EPEERDIED') && !isNdshmError(err, 'EBROKEN') && !isNdshmError(err, 'ECLOSED')) failure = err;
    }
  }
  try {
    state.array.release();
  } finally {
    if (state.tracker !== null) {
      try {
        state.tracker.addTrackedMemory(-state.nbytes, { shared: true });
      } catch {
        // releasing never passes a limit
      }
    }
  }
  if (failure !== undefined) throw failure;
}
