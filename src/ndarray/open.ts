// Attaching to an existing array, by name (its whole base array) or by handle (any view of it).

import { type DType, dtype as toDType } from '../dtype.js';
import { NdshmError, isNdshmError } from '../errors.js';
import { checkBoolean, checkOptions } from '../options.js';
import { validateName } from '../segment/names.js';
import { type Block, type SegmentOpener, adopt, openBlock, openRawBlock } from './block.js';
import { type SharedNDArrayHandle, checkHandle, isHandle, staleHandle } from './handle.js';
import { type Layout, extent } from './layout.js';

export interface ArrayOpenOptions {
  /** Attach without write access (copy-on-write mapping; ndshm's writers throw EROFS). */
  readOnly?: boolean;
  manager?: { track(block: Block): void };
}

function outOfBounds(block: Block, what: string): NdshmError {
  return new NdshmError('EBADHEADER', `${what} reaches outside the data of "${block.name}"`, { segment: block.name });
}

/** Checks that every element of `layout` (elements of `dt`) lies inside the block's data. */
function checkInside(block: Block, layout: Layout, dt: DType, what: string): void {
  const e = extent(layout);
  if (e === undefined) return;
  const count = Math.floor(block.dataLength / dt.itemsize);
  if (e.lo < 0 || e.hi >= count) throw outOfBounds(block, what);
}

/** The view a handle describes, checked against an open block (its id, dtype and bounds). */
export function viewOf(block: Block, handle: SharedNDArrayHandle): { layout: Layout; dtype: DType } {
  const name = handle.name;
  if (BigInt(`0x${handle.id}`) !== block.arrayId) throw staleHandle(name);
  let dt = block.dtype;
  if (handle.dtype !== block.dtype.typestr) {
    // Only a pack's parts are viewed with another dtype than the header's.
    if (!block.pack) {
      throw new NdshmError('EBADHEADER', `handle says dtype ${handle.dtype}, the array is ${block.dtype.typestr}`, { segment: name });
    }
    try {
      dt = toDType(handle.dtype);
    } catch (err) {
      if (isNdshmError(err, 'EINVAL')) throw new NdshmError('EBADHEADER', `handle dtype ${JSON.stringify(handle.dtype)} is not supported`, { segment: name });
      throw err;
    }
  }
  const size = dt.itemsize;
  if (handle.offset % size !== 0 || handle.strides.some((s) => s % size !== 0)) {
    throw new NdshmError('EBADHEADER', `handle offsets are not multiples of the item size ${size}`, { segment: name });
  }
  const layout = { shape: [...handle.shape], strides: handle.strides.map((s) => s / size), offset: handle.offset / size };
  checkInside(block, layout, dt, 'the handle\'s view');
  return { layout, dtype: dt };
}

/** `open` maps the segment; only the import-time priming (array.ts) passes another. */
export function openArray(
  target: string | SharedNDArrayHandle,
  options?: ArrayOpenOptions,
  open?: SegmentOpener,
): { block: Block; layout: Layout; dtype: DType } {
  const opts = checkOptions(options, ['readOnly', 'manager'], 'SharedNDArray.open');
  const readOnly = checkBoolean(opts.readOnly, 'readOnly', false);
  const handle = isHandle(target) ? checkHandle(target) : undefined;
  if (handle?.raw) return openRawView(handle, readOnly, opts.manager);
  const name = handle?.name ?? validateName(target, 'array name');
  const { block, segment } = openBlock(name, readOnly, open);
  try {
    let layout: Layout = { shape: block.base.shape, strides: block.base.strides, offset: 0 };
    let dt = block.dtype;
    checkInside(block, layout, dt, 'the header\'s shape and strides');
    if (handle !== undefined) {
      ({ layout, dtype: dt } = viewOf(block, handle));
      if (handle.scope === 'remote' && handle.owner !== undefined) adopt(block, segment, BigInt(handle.owner));
    }
    opts.manager?.track(block);
    return { block, layout, dtype: dt };
  } catch (err) {
    block.release();
    throw err;
  }
}

/** A raw handle: the segment has no header, so the handle's view is checked against its size. */
function openRawView(handle: SharedNDArrayHandle, readOnly: boolean, manager: ArrayOpenOptions['manager']): { block: Block; layout: Layout; dtype: DType } {
  let dt: DType;
  try {
    dt = toDType(handle.dtype);
  } catch {
    throw new NdshmError('EINVAL', `handle dtype ${JSON.stringify(handle.dtype)} is not supported`, { segment: handle.name });
  }
  const size = dt.itemsize;
  if (handle.offset % size !== 0 || handle.strides.some((s) => s % size !== 0)) throw new NdshmError('EINVAL', 'raw handle offsets are not multiples of the item size');
  const layout = { shape: [...handle.shape], strides: handle.strides.map((s) => s / size), offset: handle.offset / size };
  const e = extent(layout);
  const block = openRawBlock(handle.name, dt, e === undefined ? 0 : e.hi + 1, readOnly);
  try {
    checkInside(block, layout, dt, 'the handle\'s view');
  } catch (err) {
    block.release();
    throw err;
  }
  manager?.track(block);
  return { block, layout, dtype: dt };
}
