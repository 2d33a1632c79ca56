// Reading and writing elements of any dtype, and copying between layouts. JS values: numbers,
// bigints for 64-bit integers, booleans for bool, [real, imaginary] for complex.

import { type DType, type TypedArray, hasFloat16Array } from '../dtype.js';
import { invalid, show } from '../errors.js';
import type { Layout } from './layout.js';

export type Scalar = number | bigint | boolean | readonly [number, number];

export interface Accessor {
  get(index: number): Scalar;
  set(index: number, value: unknown): void;
}

// IEEE 754 half precision, for runtimes without Float16Array.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  if ((half & 0x7c00) === 0x7c00) e = 31;
  return sign | half;
}

function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint' || typeof value === 'boolean') return Number(value);
  throw invalid(`cannot store ${typeof value} in a numeric array`);
}

function toBigInt(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'boolean') return value ? 1n : 0n;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  throw invalid(`cannot store ${show(value)} in a 64-bit integer array (use an integer or a bigint)`);
}

function toComplex(value: unknown): readonly [number, number] {
  if (Array.isArray(value) && value.length === 2) return [toNumber(value[0]), toNumber(value[1])];
  return [toNumber(value), 0];
}

type GetSet = [(v: DataView, at: number, le: boolean) => number | bigint, (v: DataView, at: number, x: never, le: boolean) => void];

const dataViewMethods: Record<string, GetSet> = {
  i1: [(v, a) => v.getInt8(a), (v, a, x) => v.setInt8(a, x)],
  u1: [(v, a) => v.getUint8(a), (v, a, x) => v.setUint8(a, x)],
  i2: [(v, a, le) => v.getInt16(a, le), (v, a, x, le) => v.setInt16(a, x, le)],
  u2: [(v, a, le) => v.getUint16(a, le), (v, a, x, le) => v.setUint16(a, x, le)],
  i4: [(v, a, le) => v.getInt32(a, le), (v, a, x, le) => v.setInt32(a, x, le)],
  u4: [(v, a, le) => v.getUint32(a, le), (v, a, x, le) => v.setUint32(a, x, le)],
  i8: [(v, a, le) => v.getBigInt64(a, le), (v, a, x, le) => v.setBigInt64(a, x, le)],
  u8: [(v, a, le) => v.getBigUint64(a, le), (v, a, x, le) => v.setBigUint64(a, x, le)],
  f4: [(v, a, le) => v.getFloat32(a, le), (v, a, x, le) => v.setFloat32(a, x, le)],
  f8: [(v, a, le) => v.getFloat64(a, le), (v, a, x, le) => v.setFloat64(a, x, le)],
  f2: [(v, a, le) => halfToFloat(v.getUint16(a, le)), (v, a, x, le) => v.setUint16(a, floatToHalf(x), le)],
};

/**
 * Element access over `elements` (a typed array of `dt.arrayType` over the data region) or, for the
 * other byte order, over `bytes`. Indices are element indices from the start of the data region.
 */
export function accessor(dt: DType, elements: TypedArray, bytes: DataView): Accessor {
  const store = dt.kind === 'i' || dt.kind === 'u' ? (dt.itemsize === 8 ? toBigInt : toNumber) : toNumber;
  if (dt.kind === 'b') {
    const u8 = elements as Uint8Array;
    return { get: (i) => u8[i] !== 0, set: (i, v) => void (u8[i] = v ? 1 : 0) };
  }
  if (dt.native && dt.kind === 'c') {
    const a = elements as Float64Array;
    return {
      get: (i) => [a[2 * i]!, a[2 * i + 1]!] as const,
      set: (i, v) => {
        const [re, im] = toComplex(v);
        a[2 * i] = re;
        a[2 * i + 1] = im;
      },
    };
  }
  if (dt.native && !(dt.name === 'float16' && !hasFloat16Array)) {
    const a = elements as unknown as { [i: number]: number | bigint };
    return { get: (i) => a[i]!, set: (i, v) => void (a[i] = store(v) as never) };
  }
  // Another byte order, or half floats without Float16Array: through a DataView.
  const le = dt.byteOrder !== '>';
  const width = dt.itemsize / dt.lanes;
  const [get, set] = dataViewMethods[`${dt.kind === 'c' ? 'f' : dt.kind}${width}`]!;
  if (dt.kind === 'c') {
    return {
      get: (i) => [get(bytes, i * dt.itemsize, le) as number, get(bytes, i * dt.itemsize + width, le) as number] as const,
      set: (i, v) => {
        const [re, im] = toComplex(v);
        set(bytes, i * dt.itemsize, re as never, le);
        set(bytes, i * dt.itemsize + width, im as never, le);
      },
    };
  }
  return { get: (i) => get(bytes, i * dt.itemsize, le), set: (i, v) => set(bytes, i * dt.itemsize, store(v) as never, le) };
}

/**
 * Calls `visit(srcIndex, dstIndex)` for every element of `shape` in C order, where the indices walk
 * `src` and `dst` layouts (element strides) from their offsets.
 */
export function forEachPair(
  shape: readonly number[],
  src: Pick<Layout, 'strides' | 'offset'>,
  dst: Pick<Layout, 'strides' | 'offset'>,
  visit: (s: number, d: number) => void,
): void {
  const n = shape.length;
  if (shape.some((d) => d === 0)) return;
  if (n === 0) {
    visit(src.offset, dst.offset);
    return;
  }
  const counter = new Array<number>(n).fill(0);
  const last = n - 1;
  const inner = shape[last]!;
  const sInner = src.strides[last]!;
  const dInner = dst.strides[last]!;
  let s = src.offset;
  let d = dst.offset;
  for (;;) {
    for (let k = 0; k < inner; k++) visit(s + k * sInner, d + k * dInner);
    let axis = last - 1;
    while (axis >= 0) {
      counter[axis]!++;
      s += src.strides[axis]!;
      d += dst.strides[axis]!;
      if (counter[axis]! < shape[axis]!) break;
      s -= src.strides[axis]! * shape[axis]!;
      d -= dst.strides[axis]! * shape[axis]!;
      counter[axis] = 0;
      axis--;
    }
    if (axis < 0) return;
  }
}

/**
 * An integer typed array that moves an element's bits exactly (no float conversion, so NaN payloads
 * and the other byte order survive), with `lanes` numbers per element.
 */
export function rawView(buffer: ArrayBufferLike, byteOffset: number, elements: number, itemsize: number): { array: TypedArray; lanes: number } {
  if (itemsize === 1) return { array: new Uint8Array(buffer, byteOffset, elements), lanes: 1 };
  if (itemsize === 2) return { array: new Uint16Array(buffer, byteOffset, elements), lanes: 1 };
  return { array: new Uint32Array(buffer, byteOffset, (elements * itemsize) / 4), lanes: itemsize / 4 };
}

/** Bit-exact copy of `shape` elements between two layouts over raw views (see rawView). */
export function copyRaw(
  shape: readonly number[],
  src: TypedArray,
  srcLayout: Pick<Layout, 'strides' | 'offset'>,
  dst: TypedArray,
  dstLayout: Pick<Layout, 'strides' | 'offset'>,
  lanes: number,
): void {
  const s = src as unknown as { [i: number]: number };
  const d = dst as unknown as { [i: number]: number };
  if (lanes === 1) {
    forEachPair(shape, srcLayout, dstLayout, (i, j) => void (d[j] = s[i]!));
    return;
  }
  forEachPair(shape, srcLayout, dstLayout, (i, j) => {
    for (let k = 0; k < lanes; k++) d[j * lanes + k] = s[i * lanes + k]!;
  });
}
