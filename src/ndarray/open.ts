// Attaching to an existing array, by name (its whole base array) or by handle (any view of it).

import { NdshmError } from '../errors.js';
import { checkBoolean, checkOptions } from '../options.js';
import { validateName } from '../segment/names.js';
import { type Block, type SegmentOpener, adopt, openBlock } from './block.js';
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

/** Checks that every element of `layout` lies inside the block's data. */
function checkInside(block: Block, layout: Layout, what: string): void {
  const e = extent(layout);
  if (e === undefined) return;
  const count = block.dataLength / block.dtype.itemsize;
  if (e.lo < 0 || e.hi >= count) throw outOfBounds(block, what);
}

/** `open` maps the segment; only the import-time priming (array.ts) passes another. */
export function openArray(target: string | SharedNDArrayHandle, options?: ArrayOpenOptions, open?: SegmentOpener): { block: Block; layout: Layout } {
  const opts = checkOptions(options, ['readOnly', 'manager'], 'SharedNDArray.open');
  const readOnly = checkBoolean(opts.readOnly, 'readOnly', false);
  const handle = isHandle(target) ? checkHandle(target) : undefined;
  const name = handle?.name ?? validateName(target, 'array name');
  const { block, segment } = openBlock(name, readOnly, open);
  try {
    let layout: Layout = { shape: block.base.shape, strides: block.base.strides, offset: 0 };
    checkInside(block, layout, 'the header\'s shape and strides');
    if (handle !== undefined) {
      if (BigInt(`0x${handle.id}`) !== block.arrayId) throw staleHandle(name);
      if (handle.dtype !== block.dtype.typestr) {
        throw new NdshmError('EBADHEADER', `handle says dtype ${handle.dtype}, the array is ${block.dtype.typestr}`, { segment: name });
      }
      const size = block.dtype.itemsize;
      if (handle.offset % size !== 0 || handle.strides.some((s) => s % size !== 0)) {
        throw new NdshmError('EBADHEADER', `handle offsets are not multiples of the item size ${size}`, { segment: name });
      }
      layout = { shape: [...handle.shape], strides: handle.strides.map((s) => s / size), offset: handle.offset / size };
      checkInside(block, layout, 'the handle\'s view');
      if (handle.scope === 'remote' && handle.owner !== undefined) adopt(block, segment, BigInt(handle.owner));
    }
    opts.manager?.track(block);
    return { block, layout };
  } catch (err) {
    block.release();
    throw err;
  }
}
