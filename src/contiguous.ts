// The protocol by which an array hands over its elements' bytes in C order: regions copy such
// objects in, the stores' file writers read them out. Defined here, below both, so that neither has
// to import the other.

/** Objects whose elements can be copied out as bytes in C order implement this (SharedNDArray does). */
export const contiguousBytes: unique symbol = Symbol.for('ndshm.contiguousBytes') as never;

export interface HasContiguousBytes {
  /** The elements' bytes in C order, as stored: a view of the memory when it is C-contiguous. */
  [contiguousBytes](): Uint8Array;
}

export function hasContiguousBytes(value: unknown): value is HasContiguousBytes {
  return typeof value === 'object' && value !== null && typeof (value as HasContiguousBytes)[contiguousBytes] === 'function';
}
