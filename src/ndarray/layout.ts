// Shapes and strides, in elements. Pure arithmetic, no memory: the rules are numpy's.

import { invalid, show } from '../errors.js';
import { checkShape, elementCount as sizeOf } from '../shape.js';

export type Order = 'C' | 'F';

export interface Layout {
  readonly shape: readonly number[];
  /** Element strides; may be negative or zero. */
  readonly strides: readonly number[];
  /** Element index of [0, ..., 0], counted from the start of the memory block. */
  readonly offset: number;
}

export { checkShape, elementCount as sizeOf } from '../shape.js';

export function contiguousStrides(shape: readonly number[], order: Order = 'C'): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  if (order === 'C') {
    for (let i = shape.length - 1; i >= 0; i--) {
      strides[i] = s;
      s *= Math.max(shape[i]!, 1);
    }
  } else {
    for (let i = 0; i < shape.length; i++) {
      strides[i] = s;
      s *= Math.max(shape[i]!, 1);
    }
  }
  return strides;
}

/** numpy's flags: axes of length 1 may have any stride, and an empty array is contiguous. */
export function isContiguous(layout: Pick<Layout, 'shape' | 'strides'>, order: Order): boolean {
  const { shape, strides } = layout;
  if (sizeOf(shape) === 0) return true;
  let expected = 1;
  const n = shape.length;
  for (let k = 0; k < n; k++) {
    const i = order === 'C' ? n - 1 - k : k;
    if (shape[i] === 1) continue;
    if (strides[i] !== expected) return false;
    expected *= shape[i]!;
  }
  return true;
}

/** The lowest and highest element index the layout reaches (empty arrays reach nothing: undefined). */
export function extent(layout: Layout): { lo: number; hi: number } | undefined {
  if (sizeOf(layout.shape) === 0) return undefined;
  let lo = layout.offset;
  let hi = layout.offset;
  layout.shape.forEach((d, i) => {
    const span = (d - 1) * layout.strides[i]!;
    if (span < 0) lo += span;
    else hi += span;
  });
  return { lo, hi };
}

/**
 * numpy's _attempt_nocopy_reshape: the strides that give `newShape` over the same memory in C order,
 * or undefined when that is impossible without a copy.
 */
export function reshapeStrides(shape: readonly number[], strides: readonly number[], newShape: readonly number[]): number[] | undefined {
  if (sizeOf(shape) === 0) return contiguousStrides(newShape);
  const oldDims: number[] = [];
  const oldStrides: number[] = [];
  shape.forEach((d, i) => {
    if (d !== 1) {
      oldDims.push(d);
      oldStrides.push(strides[i]!);
    }
  });
  const out = new Array<number>(newShape.length).fill(0);
  let oi = 0;
  let oj = 1;
  let ni = 0;
  let nj = 1;
  while (ni < newShape.length && oi < oldDims.length) {
    let np = newShape[ni]!;
    let op = oldDims[oi]!;
    while (np !== op) {
      if (np < op) np *= newShape[nj++]!;
      else op *= oldDims[oj++]!;
    }
    for (let ok = oi; ok < oj - 1; ok++) {
      if (oldStrides[ok] !== oldDims[ok + 1]! * oldStrides[ok + 1]!) return undefined;
    }
    out[nj - 1] = oldStrides[oj - 1]!;
    for (let nk = nj - 1; nk > ni; nk--) out[nk - 1] = out[nk]! * newShape[nk]!;
    ni = nj++;
    oi = oj++;
  }
  const last = ni >= 1 ? out[ni - 1]! : 1;
  for (let nk = ni; nk < newShape.length; nk++) out[nk] = last;
  return out;
}

/** Resolves one -1 in a requested shape; EINVAL when the sizes cannot match. */
export function resolveShape(requested: readonly number[], size: number): number[] {
  const unknown = requested.indexOf(-1);
  if (unknown !== requested.lastIndexOf(-1)) throw invalid('reshape: only one dimension may be -1');
  const dims = requested.map((d, i) => (i === unknown ? 1 : d));
  checkShape(dims, 'reshape shape');
  const known = sizeOf(dims);
  if (unknown >= 0) {
    if (known === 0 || size % known !== 0) throw invalid(`cannot reshape an array of size ${size} into ${show(requested)}`);
    dims[unknown] = size / known;
  }
  if (sizeOf(dims) !== size) throw invalid(`cannot reshape an array of size ${size} into ${show(requested)}`);
  return dims;
}

export interface SliceSpec {
  start?: number | null;
  stop?: number | null;
  step?: number | null;
}

/** Python's slice.indices(length), then the number of elements. */
export function sliceIndices(spec: SliceSpec, length: number): { start: number; step: number; count: number } {
  const step = spec.step ?? 1;
  if (!Number.isSafeInteger(step) || step === 0) throw invalid(`slice step must be a non-zero integer, got ${show(spec.step)}`);
  const lower = step < 0 ? -1 : 0;
  const upper = step < 0 ? length - 1 : length;
  const clamp = (v: number | null | undefined, fallback: number, what: string): number => {
    if (v === null || v === undefined) return fallback;
    if (!Number.isSafeInteger(v)) throw invalid(`slice ${what} must be an integer, got ${show(v)}`);
    const w = v < 0 ? v + length : v;
    return w < lower ? lower : w > upper ? upper : w;
  };
  const start = clamp(spec.start, step < 0 ? upper : lower, 'start');
  const stop = clamp(spec.stop, step < 0 ? lower : upper, 'stop');
  const count = step > 0 ? (stop > start ? Math.floor((stop - start + step - 1) / step) : 0) : start > stop ? Math.floor((start - stop - step - 1) / -step) : 0;
  return { start, step, count };
}
