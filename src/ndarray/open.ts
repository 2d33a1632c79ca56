// Attaching to an existing array, by name (its whole base array) or by handle (any view of it).

import { type DType, dtype as toDType } from '../dtype.js';
import { isNdshmError, NdshmError, show } from '../errors.js';
import { checkBoolean, checkOptions } from '../options.js';
import * as header from '../segment/header.js';
import { validateName } from '../segment/names.js';
import type { Segment } from '../segment/segment.js';
import { elementCount } from '../shape.js';
import { type Block, adopt, blockOf, checkHeader, openBlock, openRawBlock } from './block.js';
import { type Tracker, checkTracker } from './create.js';
import { type SharedNDArrayHandle, checkHandle, isHandle, staleHandle } from './handle.js';
import { type Layout, extent } from './layout.js';

export interface ArrayOpenOptions {
  /** Attach without write access (copy-on-write mapping; ndshm's writers throw EROFS). */
  readOnly?: boolean;
  /** Attach to an array another user owns (default false: EACCES). */
  allowOtherUsers?: boolean;
  /** @internal SharedMemoryManager's tracking. */
  manager?: Tracker;
}

function outOfBounds(block: Block, what: string): NdshmError {
  return new NdshmError('EBADHEADER', `${what} reaches outside the data of "${block.name}"`, { segment: block.name });
}

/**
 * Checks that every element of `layout` (elements of `dt`) lies inside the block's data, and that
 * the view has no more elements than the data (views never repeat an element; a forged handle with
 * zero strides and a huge shape would otherwise make sizes that are not safe integers).
 */
function checkInside(block: Block, layout: Layout, dt: DType, what: string): void {
  const count = Math.floor(block.dataLength / dt.itemsize);
  if (elementCount(layout.shape) > count) {
    throw new NdshmError('EBADHEADER', `${what} has more elements than the data of "${block.name}" holds`, { segment: block.name });
  }
  const e = extent(layout);
  if (e === undefined) return;
  if (e.lo < 0 || e.hi >= count) throw outOfBounds(block, what);
}

/** The view a handle describes, checked against an open block (its id, dtype and bounds). */
export function viewOf(block: Block, handle: SharedNDArrayHandle): { layout: Layout; dtype: DType } {
  if (BigInt(`0x${handle.id}`) !== block.arrayId) throw staleHandle(handle.name);
  return viewIn(block, handle.dtype, [...handle.shape], handle.strides, handle.offset); // the caller's arrays are copied
}

/**
 * A view of an open block (whose id the caller has checked): its dtype (another than the block's only
 * for a pack's parts), byte strides and byte offset, checked for alignment and bounds.
 */
export function viewIn(block: Block, typestr: string, shape: readonly number[], byteStrides: readonly number[], byteOffset: number): { layout: Layout; dtype: DType } {
  const name = block.name;
  let dt = block.dtype;
  if (typestr !== block.dtype.typestr) {
    // Only a pack's parts are viewed with another dtype than the header's.
    if (!block.pack) {
      throw new NdshmError('EBADHEADER', `handle says dtype ${show(typestr)}, the array is ${block.dtype.typestr}`, { segment: name });
    }
    try {
      dt = toDType(typestr);
    } catch (err) {
      if (isNdshmError(err, 'EINVAL')) throw new NdshmError('EBADHEADER', `handle dtype ${show(typestr)} is not supported`, { segment: name });
      throw err;
    }
  }
  const size = dt.itemsize;
  const strides = new Array<number>(byteStrides.length);
  for (let i = 0; i < byteStrides.length; i++) {
    const s = byteStrides[i]!;
    if (s % size !== 0) throw new NdshmError('EBADHEADER', `handle offsets are not multiples of the item size ${size}`, { segment: name });
    strides[i] = s / size;
  }
  if (byteOffset % size !== 0) throw new NdshmError('EBADHEADER', `handle offsets are not multiples of the item size ${size}`, { segment: name });
  const layout = { shape, strides, offset: byteOffset / size };
  checkInside(block, layout, dt, 'the handle\'s view');
  return { layout, dtype: dt };
}

/** What an open asks for, checked before anything is mapped. */
interface OpenRequest {
  readonly name: string;
  readonly handle: SharedNDArrayHandle | undefined;
  readonly open: { readOnly: boolean; allowOtherUsers: boolean };
  readonly manager: Tracker | undefined;
}

/** Checks the arguments of SharedNDArray.open: its options, and the handle or name. Pure. */
function openRequest(target: string | SharedNDArrayHandle, options: ArrayOpenOptions | undefined): OpenRequest {
  const opts = checkOptions(options, ['readOnly', 'allowOtherUsers', 'manager'], 'SharedNDArray.open');
  const manager = checkTracker(opts.manager);
  const open = { readOnly: checkBoolean(opts.readOnly, 'readOnly', false), allowOtherUsers: checkBoolean(opts.allowOtherUsers, 'allowOtherUsers', false) };
  const handle = isHandle(target) ? checkHandle(target) : undefined;
  return { name: handle?.name ?? validateName(target, 'array name'), handle, open, manager };
}

/**
 * The view an open makes of the block it mapped: the header's whole array (by name) or the handle's
 * view, checked; a 'remote' handle's offer is taken here. On failure the caller releases the block.
 */
function openedView(block: Block, segment: Segment | undefined, request: OpenRequest): { layout: Layout; dtype: DType } {
  const whole: Layout = { shape: block.base.shape, strides: block.base.strides, offset: 0 };
  checkInside(block, whole, block.dtype, 'the header\'s shape and strides');
  const handle = request.handle;
  if (handle === undefined) return { layout: whole, dtype: block.dtype };
  const view = viewOf(block, handle);
  if (segment !== undefined && handle.scope === 'remote' && handle.offer !== undefined) adopt(block, segment, BigInt(handle.offer));
  return view;
}

export function openArray(target: string | SharedNDArrayHandle, options?: ArrayOpenOptions): { block: Block; layout: Layout; dtype: DType } {
  const request = openRequest(target, options);
  if (request.handle?.raw) return openRawView(request.handle, request.open, request.manager);
  const { block, segment } = openBlock(request.name, request.open);
  try {
    const { layout, dtype } = openedView(block, segment, request);
    request.manager?.track(block);
    return { block, layout, dtype };
  } catch (err) {
    block.release();
    throw err;
  }
}

/**
 * V8 compiles a function the first time it runs, and in a fresh process that, not the system calls,
 * was most of the first open. So the pure parts of the open path run once at import, over an array
 * header and a handle made here in local memory (nothing in /dev/shm is touched, nothing is faked:
 * a block over local memory is what index arrays make): the checks of options, handle and header,
 * the dtype, the view, and the array object (array.ts). What runs for the first time in the first
 * real open is the attach (openBlock, Segment.open, the addon) and the few lines that join the parts.
 */
function primeOpenPath(): void {
  const shape = [2, 3];
  const dataOffset = header.dataOffsetFor(shape.length);
  const buffer = new ArrayBuffer(dataOffset + 48);
  header.writeHeader(new Uint8Array(buffer, 0, dataOffset), {
    typestr: '<f8', shape, strides: [24, 8], dataOffset, dataLength: 48, persistent: false, flags: 0,
    ownerPid: 0, ownerStart: 0, ownerTag: 0n, created: 0, arrayId: 1n, offer: 0n,
  });
  header.publish(buffer);
  const request = openRequest({ ndshm: 1, name: 'ndshm.prime', id: '1', dtype: '<f8', shape: [3], strides: [8], offset: 24, scope: 'local' }, undefined);
  const block = blockOf(request.name, { local: buffer }, checkHeader(buffer, buffer.byteLength, request.name), false);
  openedView(block, undefined, request);
  block.release();
}

/** A raw handle: the segment has no header, so the handle's view is checked against its size. */
function openRawView(handle: SharedNDArrayHandle, open: { readOnly: boolean; allowOtherUsers: boolean }, manager: Tracker | undefined): { block: Block; layout: Layout; dtype: DType } {
  let dt: DType;
  try {
    dt = toDType(handle.dtype);
  } catch {
    throw new NdshmError('EINVAL', `handle dtype ${show(handle.dtype)} is not supported`, { segment: handle.name });
  }
  const size = dt.itemsize;
  if (handle.offset % size !== 0 || handle.strides.some((s) => s % size !== 0)) throw new NdshmError('EINVAL', 'raw handle offsets are not multiples of the item size');
  const layout = { shape: [...handle.shape], strides: handle.strides.map((s) => s / size), offset: handle.offset / size };
  const e = extent(layout);
  if (e !== undefined && e.lo < 0) throw new NdshmError('EINVAL', 'raw handle reaches before the start of its segment', { segment: handle.name });
  const block = openRawBlock(handle.name, dt, e === undefined ? 0 : e.hi + 1, open);
  try {
    checkInside(block, layout, dt, 'the handle\'s view');
  } catch (err) {
    block.release();
    throw err;
  }
  manager?.track(block);
  return { block, layout, dtype: dt };
}

primeOpenPath();
