// A contiguous array's bytes in memory order, as a view of its shared memory: what a .npy payload is.

import { contiguousBytes } from '../contiguous.js';
import { invalid } from '../errors.js';
import type { SharedNDArray } from '../ndarray/array.js';

/** Bytes moved between a file and shared memory per read or write. */
export const chunkBytes = 16 << 20;

const none = (): void => undefined;

/**
 * The bytes of a contiguous array in memory order, as a view of its memory (a .npy payload is exactly
 * that, in C or F order): an F-order array's transpose is C-contiguous over the same bytes. `release`
 * ends what the view needed (nothing today; callers keep calling it).
 */
export function memoryBytes(a: SharedNDArray, _readOnly?: boolean): { bytes: Uint8Array; release(): void } {
  if (a.order === 'C') return { bytes: a[contiguousBytes](), release: none };
  if (a.order === 'F') return { bytes: a.transpose()[contiguousBytes](), release: none };
  throw invalid('memoryBytes needs a contiguous array');
}
