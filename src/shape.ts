// Shapes: the element count of a shape, and the check every shape from outside passes (a caller's,
// a header's, a handle's, a manifest's, a file's), so that no derived size is ever unsafe.

import { invalid, NdshmError, show } from './errors.js';

/** Dimensions an array may have (numpy's limit). */
export const maxDims = 32;

/** The number of elements of a shape (1 for a 0-d shape). */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Checks a shape: at most 32 non-negative safe integers whose product, and the product times
 * `itemsize` (bytes), are safe integers too. EINVAL for a malformed shape, ETOOBIG for one too large.
 */
export function checkShape(shape: unknown, what = 'shape', itemsize = 1): number[] {
  const dims = typeof shape === 'number' ? [shape] : shape;
  if (!Array.isArray(dims)) throw invalid(`${what} must be an array of non-negative integers`);
  if (dims.length > maxDims) throw invalid(`${what} has ${dims.length} dimensions; at most ${maxDims} are supported`);
  let n = 1;
  for (let i = 0; i < dims.length; i++) {
    const d: unknown = dims[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw invalid(`${what}[${i}] must be a non-negative integer, got ${show(d)}`);
    }
    n *= d;
  }
  if (!Number.isSafeInteger(n * itemsize)) throw new NdshmError('ETOOBIG', `${what} ${show(dims)} has too many elements`);
  return dims.slice() as number[];
}
