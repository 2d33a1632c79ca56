// A contiguous array's bytes in memory order, as a view of its shared memory: what a .npy payload is.

import { SharedNDArray } from '../ndarray/array.js';
import { contiguousBytes } from '../regions/triton.js';

/** Bytes moved between a file and shared memory per read or write. */
export const chunkBytes = 16 << 20;

/**
 * The bytes of a contiguous array in memory order, as a view of its memory (a .npy payload is exactly
 * that, in C or F order). [contiguousBytes]() is a view only for C order (for F order it makes a
 * C-order copy); .data refuses the other byte order; and transpose() of an array held in a pack
 * segment loses its dtype (the view takes the pack's '|u1'). A big-endian F-order array is therefore
 * viewed through a second, flat view of its memory, opened by handle.
 */
export function memoryBytes(a: SharedNDArray, readOnly: boolean): { bytes: Uint8Array; release(): void } {
  const none = (): void => undefined;
  if (a.order === 'C') return { bytes: a[contiguousBytes](), release: none };
  if (a.order !== 'F') throw new Error('memoryBytes needs a contiguous array');
  if (a.dtype.native) {
    const data = a.data;
    return { bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), release: none };
  }
  const flat = SharedNDArray.open({ ...a.handle, shape: [a.size], strides: [a.itemsize], scope: null, owner: undefined }, { readOnly });
  return { bytes: flat[contiguousBytes](), release: () => flat.release() };
}
