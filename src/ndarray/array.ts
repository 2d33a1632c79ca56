// SharedNDArray: a numpy-like view (dtype, shape, strides, offset) over memory that other threads
// and processes can attach to by name or handle.

import { createRequire } from 'node:module';

import { type DType, type DTypeLike, type TypedArray, dtype as toDType } from '../dtype.js';
import { invalid, NdshmError, show } from '../errors.js';
import { checkOptions } from '../options.js';
import { contiguousBytes } from '../contiguous.js';
import { Block, type Scope } from './block.js';
import { type ArrayCreateOptions, allocate, createOptionKeys, describeSource } from './create.js';
import { type Accessor, type Scalar, accessor, copyRaw, forEachPair, rawView } from './elements.js';
import { type SharedNDArrayHandle, isHandle } from './handle.js';
import { type Index, select } from './indexing.js';
import { type Layout, type Order, contiguousStrides, extent, isContiguous, reshapeStrides, resolveShape, sizeOf } from './layout.js';
import { type ArrayOpenOptions, openArray } from './open.js';

export interface ArrayFromOptions extends ArrayCreateOptions {
  /** Element type of the new array; by default the source's (float64 for plain numbers). */
  dtype?: DTypeLike;
  /** For a typed-array source: the shape to give its elements (C order). */
  shape?: readonly number[];
}

/** Inside ndshm: a SharedNDArray over a block (the constructor is private to users). */
export let makeArray: (block: Block, layout: Layout, dtype: DType) => SharedNDArray;
/** Inside ndshm: sets a C-contiguous array's elements, in order, from `values` (converted as set() does). */
export let fillArrayFrom: (array: SharedNDArray, values: Iterable<unknown>) => void;
/** Inside ndshm: copies one array's elements into another of the same shape and dtype, bit for bit. */
export let copyArrayInto: (from: SharedNDArray, to: SharedNDArray) => void;
/** Inside ndshm (pools): the block under an array (its views share it). */
export let blockOf: (array: SharedNDArray) => Block;

export class SharedNDArray {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly #block: Block;
  readonly #layout: Layout;
  #accessor: Accessor | undefined;

  // Arrays come from the static factories (and, inside ndshm, from makeArray). `dtype` is the view's
  // (a pack segment's block is bytes).
  private constructor(block: Block, layout: Layout, dtype: DType) {
    if (!(block instanceof Block)) throw invalid('SharedNDArrays are made by SharedNDArray.empty/zeros/full/from/open, not by new');
    this.#block = block;
    this.#layout = layout;
    this.dtype = dtype;
    this.shape = Object.freeze([...layout.shape]);
  }

  // ----- creation -----------------------------------------------------------------------------

  /** A new array in shared memory. Its elements are zero (fresh shared memory always is). */
  static empty(shape: readonly number[] | number, dtype?: DTypeLike, options?: ArrayCreateOptions): SharedNDArray {
    const { block, layout } = allocate(shape, dtype, options, 'SharedNDArray.empty');
    return new SharedNDArray(block, layout, block.dtype);
  }

  static zeros(shape: readonly number[] | number, dtype?: DTypeLike, options?: ArrayCreateOptions): SharedNDArray {
    const { block, layout } = allocate(shape, dtype, options, 'SharedNDArray.zeros');
    return new SharedNDArray(block, layout, block.dtype);
  }

  static full(shape: readonly number[] | number, value: Scalar, dtype?: DTypeLike, options?: ArrayCreateOptions): SharedNDArray {
    const array = SharedNDArray.empty(shape, dtype, options);
    array.fill(value);
    return array;
  }

  /**
   * A copy of `source` in new shared memory: a SharedNDArray (any view), a typed array, a nested
   * array, a scijs ndarray or a scalar.
   */
  static from(source: unknown, options?: ArrayFromOptions): SharedNDArray {
    const opts = checkOptions(options, [...createOptionKeys, 'dtype', 'shape'], 'SharedNDArray.from');
    const { dtype, shape, ...create } = opts;
    if (source instanceof SharedNDArray) return source.copy({ ...create, ...(dtype === undefined ? {} : { dtype }) });
    const src = describeSource(source, dtype as string | undefined, shape);
    const { block, layout } = allocate(src.shape, src.dtype, create, 'SharedNDArray.from');
    const out = new SharedNDArray(block, layout, block.dtype);
    const sourceIsSame = ArrayBuffer.isView(source) && src.dtype.native && src.dtype.arrayType === Object.getPrototypeOf(source).constructor;
    if (sourceIsSame) {
      const view = source as TypedArray;
      new Uint8Array(block.buffer, block.dataOffset, block.dataLength).set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    } else {
      const acc = out.#access();
      let i = 0;
      for (const v of src.values()) acc.set(i++, v);
    }
    return out;
  }

  /** Attaches to an array from any process: by name (its whole array) or by handle (any view). */
  static open(nameOrHandle: string | SharedNDArrayHandle, options?: ArrayOpenOptions): SharedNDArray {
    const { block, layout, dtype } = openArray(nameOrHandle, options);
    return new SharedNDArray(block, layout, dtype);
  }

  static isHandle(value: unknown): value is SharedNDArrayHandle {
    return isHandle(value);
  }

  // ----- shape and memory -------------------------------------------------------------------------

  get ndim(): number {
    return this.shape.length;
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get itemsize(): number {
    return this.dtype.itemsize;
  }

  get nbytes(): number {
    return this.size * this.dtype.itemsize;
  }

  /** Strides in elements, relative to `data` (as scijs ndarray counts them). */
  get strides(): readonly number[] {
    return this.#layout.strides;
  }

  /** Strides in bytes (as numpy and HDF5 count them). */
  get byteStrides(): readonly number[] {
    return this.#layout.strides.map((s) => s * this.dtype.itemsize);
  }

  /** Position of element [0, ..., 0] in `data`. */
  get offset(): number {
    const e = extent(this.#layout);
    return e === undefined ? 0 : this.#layout.offset - e.lo;
  }

  /** 'C' or 'F' when the elements are contiguous in that order (C wins for 1-d), else null. */
  get order(): Order | null {
    return isContiguous(this.#layout, 'C') ? 'C' : isContiguous(this.#layout, 'F') ? 'F' : null;
  }

  get readOnly(): boolean {
    return this.#block.readOnly;
  }

  /** The segment name, or undefined for a local copy. */
  get name(): string | undefined {
    return this.#block.name;
  }

  get scope(): Scope {
    return this.#block.scope;
  }

  get released(): boolean {
    return this.#block.released;
  }

  isShared(): boolean {
    return this.#block.name !== undefined;
  }

  /**
   * A typed array over this array's memory, from its lowest to its highest element: exactly its
   * elements, in order, when it is C-contiguous; otherwise read it with `offset` and `strides`.
   * Complex dtypes interleave (real, imaginary). EINVAL for the other byte order (see toTypedArray).
   */
  get data(): TypedArray {
    const dt = this.dtype;
    if (!dt.native) {
      throw invalid(`a ${dt.typestr} array is stored in the other byte order: read it with get() or toTypedArray() (a converted copy)`);
    }
    const buffer = this.#block.buffer;
    const e = extent(this.#layout);
    if (e === undefined) return new dt.arrayType(0);
    return new dt.arrayType(buffer, this.#block.dataOffset + e.lo * dt.itemsize, (e.hi - e.lo + 1) * dt.lanes);
  }

  /** The small, serializable reference that SharedNDArray.open turns back into this view. */
  get handle(): SharedNDArrayHandle {
    const block = this.#block;
    if (block.name === undefined) {
      throw invalid('this array is a local copy (made by an index array), not shared memory: SharedNDArray.from(it) shares it');
    }
    if (block.released) throw new NdshmError('ECLOSED', `array "${block.name}" is released`, { segment: block.name });
    const size = this.dtype.itemsize;
    return {
      ndshm: 1,
      name: block.name,
      id: block.arrayId.toString(16),
      dtype: this.dtype.typestr,
      shape: [...this.shape],
      strides: this.#layout.strides.map((s) => s * size),
      offset: this.#layout.offset * size,
      scope: block.scope,
      ...(block.scope === 'remote' && block.offer !== 0n ? { offer: block.offer.toString() } : {}),
      ...(block.raw ? { raw: true as const } : {}),
    };
  }

  // ----- elements -----------------------------------------------------------------------------

  #access(): Accessor {
    const block = this.#block;
    void block.buffer; // ECLOSED, ETRUNCATED, EIO
    this.#accessor ??= accessor(this.dtype, block.elementsOf(this.dtype), block.bytes);
    return this.#accessor;
  }

  #at(idx: readonly unknown[]): number {
    const { shape, strides } = this.#layout;
    if (idx.length !== shape.length) {
      throw invalid(`${shape.length} indices are needed for a ${shape.length}-dimensional array, got ${idx.length}`);
    }
    let at = this.#layout.offset;
    for (let i = 0; i < shape.length; i++) {
      let v = idx[i] as number;
      if (!Number.isSafeInteger(v)) throw invalid(`index ${i} must be an integer, got ${show(idx[i])}`);
      if (v < 0) v += shape[i]!;
      if (v < 0 || v >= shape[i]!) throw new NdshmError('ERANGE', `index ${show(idx[i])} is out of bounds for axis ${i} with size ${shape[i]}`);
      at += v * strides[i]!;
    }
    return at;
  }

  #writable(): void {
    if (this.#block.readOnly) {
      throw new NdshmError('EROFS', `array "${this.#block.name}" was opened read-only`, { segment: this.#block.name });
    }
  }

  /** One element: a number, a bigint (64-bit integers), a boolean (bool) or [re, im] (complex). */
  get(...index: number[]): Scalar {
    return this.#access().get(this.#at(index));
  }

  /** set(...index, value) */
  set(...args: [...index: number[], value: Scalar]): void {
    this.#writable();
    const acc = this.#access();
    acc.set(this.#at(args.slice(0, -1)), args[args.length - 1]);
  }

  fill(value: Scalar): this {
    this.#writable();
    const acc = this.#access();
    if (this.size === 0) return this;
    const first = this.#layout.offset;
    acc.set(first, value); // converts and checks the value once; then its bits are replicated
    const size = this.dtype.itemsize;
    if (isContiguous(this.#layout, 'C')) {
      const bytes = new Uint8Array(this.#block.buffer, this.#block.dataOffset + first * size, this.nbytes);
      for (let done = size; done < bytes.length; done *= 2) bytes.copyWithin(done, 0, Math.min(done, bytes.length - done));
    } else {
      const raw = rawView(this.#block.buffer, this.#block.dataOffset, Math.floor(this.#block.dataLength / size), size);
      const a = raw.array as unknown as { [i: number]: number };
      const lanes = raw.lanes;
      forEachPair(this.shape, this.#layout, this.#layout, (i) => {
        for (let k = 0; k < lanes; k++) a[i * lanes + k] = a[first * lanes + k]!;
      });
    }
    return this;
  }

  // ----- views (same memory) ---------------------------------------------------------------------

  /**
   * numpy indexing: integers drop an axis; '1:5:2' or { start, stop, step } slice; ':' keeps an axis;
   * '...' fills in; null adds an axis. Views share memory. One index array (or boolean mask) makes a
   * local copy instead, as numpy's advanced indexing does.
   */
  slice(...index: Index[]): SharedNDArray {
    const { layout, take } = select(this.#layout, index);
    if (take === undefined) return new SharedNDArray(this.#block, layout, this.dtype);
    return this.#take(layout, take.axis, take.indices);
  }

  transpose(...axes: number[]): SharedNDArray {
    const n = this.ndim;
    const order = axes.length === 0 ? [...Array(n).keys()].reverse() : axes.map((a) => (a < 0 ? a + n : a));
    const sorted = [...order].sort((a, b) => a - b);
    if (order.length !== n || sorted.some((a, i) => a !== i)) throw invalid(`transpose: axes ${show(axes)} are not a permutation of 0..${n - 1}`);
    const { shape, strides, offset } = this.#layout;
    return new SharedNDArray(this.#block, { shape: order.map((a) => shape[a]!), strides: order.map((a) => strides[a]!), offset }, this.dtype);
  }

  get T(): SharedNDArray {
    return this.transpose();
  }

  /** The same memory with another shape (C order). EINVAL where that would need a copy. */
  reshape(...shape: (number | readonly number[])[]): SharedNDArray {
    const requested = (shape.length === 1 && Array.isArray(shape[0]) ? shape[0] : shape) as number[];
    const dims = resolveShape(requested, this.size);
    const strides = reshapeStrides(this.shape, this.#layout.strides, dims);
    if (strides === undefined) throw invalid(`cannot reshape this ${show(this.shape)} view to ${show(dims)} without copying: copy() it first`);
    return new SharedNDArray(this.#block, { shape: dims, strides, offset: this.#layout.offset }, this.dtype);
  }

  // ----- copies ---------------------------------------------------------------------------------

  /** A copy in new shared memory (C order unless options.order), the same dtype unless options.dtype. */
  copy(options?: ArrayCreateOptions & { dtype?: DTypeLike }): SharedNDArray {
    const opts = checkOptions(options, [...createOptionKeys, 'dtype'], 'copy');
    const { dtype, ...create } = opts;
    const target = dtype === undefined ? this.dtype : toDType(dtype);
    const out = SharedNDArray.empty(this.shape, target, create);
    try {
      if (target.typestr === this.dtype.typestr) this.#copyIntoArray(out);
      else {
        const from = this.#access();
        const to = out.#access();
        forEachPair(this.shape, this.#layout, out.#layout, (i, j) => to.set(j, from.get(i)));
      }
    } catch (err) {
      out.release();
      throw err;
    }
    return out;
  }

  /** A plain typed array with a copy of the elements in C order, in this machine's byte order. */
  toTypedArray(): TypedArray {
    const dt = this.dtype;
    const buffer = new ArrayBuffer(this.nbytes);
    const local = localBlock(dt, this.shape, buffer);
    this.#copyInto(local, { shape: this.shape, strides: contiguousStrides(this.shape), offset: 0 });
    if (!dt.native) swapInPlace(new Uint8Array(buffer), dt.itemsize / dt.lanes);
    return new dt.arrayType(buffer, 0, this.size * dt.lanes);
  }

  /** Nested JS arrays of the elements (a scalar for a 0-d array). */
  toArray(): unknown {
    const acc = this.#access();
    const { shape, strides } = this.#layout;
    const build = (axis: number, at: number): unknown =>
      axis === shape.length ? acc.get(at) : Array.from({ length: shape[axis]! }, (_, i) => build(axis + 1, at + i * strides[axis]!));
    return build(0, this.#layout.offset);
  }

  static {
    makeArray = (block, layout, dtype) => new SharedNDArray(block, layout, dtype);
    fillArrayFrom = (array, values) => array.#fillFrom(values);
    copyArrayInto = (from, to) => from.#copyIntoArray(to);
    blockOf = (array) => array.#block;
  }

  /** Sets this C-contiguous array's elements, in order, from `values` (converted as set() does). */
  #fillFrom(values: Iterable<unknown>): void {
    this.#writable();
    if (!isContiguous(this.#layout, 'C')) throw invalid('fillFrom needs a C-contiguous array');
    const acc = this.#access();
    let i = this.#layout.offset;
    const end = i + this.size;
    for (const v of values) {
      if (i >= end) throw invalid(`more than ${this.size} values`);
      acc.set(i++, v);
    }
    if (i !== end) throw invalid(`${i - this.#layout.offset} values for ${this.size} elements`);
  }

  /** Copies this array's elements into `target` (same shape and dtype), bit for bit. */
  #copyIntoArray(target: SharedNDArray): void {
    if (target.dtype.typestr !== this.dtype.typestr || target.shape.join() !== this.shape.join()) {
      throw invalid(`copyInto: ${this.dtype.typestr}${show(this.shape)} into ${target.dtype.typestr}${show(target.shape)}`);
    }
    target.#writable();
    this.#copyInto(target.#block, target.#layout);
  }

  #copyInto(block: Block, layout: Layout): void {
    this.#block.check();
    const count = Math.floor(this.#block.dataLength / this.dtype.itemsize);
    const src = rawView(this.#block.buffer, this.#block.dataOffset, count, this.dtype.itemsize);
    const dst = rawView(block.buffer, block.dataOffset, Math.floor(block.dataLength / this.dtype.itemsize), this.dtype.itemsize);
    if (isContiguous(this.#layout, 'C') && isContiguous(layout, 'C') && this.size > 0) {
      const at = this.#block.dataOffset + this.#layout.offset * this.dtype.itemsize;
      new Uint8Array(block.buffer, block.dataOffset + layout.offset * this.dtype.itemsize, this.nbytes).set(new Uint8Array(this.#block.buffer, at, this.nbytes));
      return;
    }
    copyRaw(this.shape, src.array, this.#layout, dst.array, layout, src.lanes);
  }

  #take(layout: Layout, axis: number, indices: readonly number[]): SharedNDArray {
    const shape = layout.shape.map((d, i) => (i === axis ? indices.length : d));
    const local = localBlock(this.dtype, shape, new ArrayBuffer(sizeOf(shape) * this.dtype.itemsize));
    const dstStrides = contiguousStrides(shape);
    const rest = shape.filter((_, i) => i !== axis);
    const drop = (s: readonly number[]): number[] => s.filter((_, i) => i !== axis);
    const size = this.dtype.itemsize;
    const src = rawView(this.#block.buffer, this.#block.dataOffset, Math.floor(this.#block.dataLength / size), size);
    const dst = rawView(local.buffer, 0, local.dataLength / size, size);
    indices.forEach((index, j) => {
      copyRaw(
        rest,
        src.array,
        { strides: drop(layout.strides), offset: layout.offset + index * layout.strides[axis]! },
        dst.array,
        { strides: drop(dstStrides), offset: j * dstStrides[axis]! },
        src.lanes,
      );
    });
    return new SharedNDArray(local, { shape, strides: dstStrides, offset: 0 }, this.dtype);
  }

  // ----- interop ------------------------------------------------------------------------------

  /** A scijs ndarray over the same memory (needs the `ndarray` package). */
  toNdarray(): unknown {
    if (this.dtype.kind === 'c') throw invalid('scijs ndarray has no complex type: use data with the interleaved layout');
    let ndarray: (data: unknown, shape: number[], stride: number[], offset: number) => unknown;
    try {
      ndarray = createRequire(import.meta.url)('ndarray');
    } catch {
      throw new NdshmError('ENOTSUP', 'toNdarray() needs the "ndarray" package: npm install ndarray');
    }
    return ndarray(this.data, [...this.shape], [...this.strides], this.offset);
  }

  /** Its elements' bytes in C order, as stored (a view when contiguous): for setSharedMemoryRegion. */
  [contiguousBytes](): Uint8Array {
    if (isContiguous(this.#layout, 'C')) {
      const buffer = this.#block.buffer;
      return new Uint8Array(buffer, this.#block.dataOffset + this.#layout.offset * this.dtype.itemsize, this.nbytes);
    }
    const buffer = new ArrayBuffer(this.nbytes);
    this.#copyInto(localBlock(this.dtype, this.shape, buffer), { shape: this.shape, strides: contiguousStrides(this.shape), offset: 0 });
    return new Uint8Array(buffer);
  }

  // ----- lifecycle ----------------------------------------------------------------------------

  /**
   * Ends this thread's use of the memory: this array and every view of it here become unusable
   * (their typed arrays read as length 0). The segment is removed if this thread owns it (see Scope).
   */
  release(): void {
    this.#block.release();
  }

  [Symbol.dispose](): void {
    this.release();
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    const where = this.#block.name === undefined ? 'local' : `"${this.#block.name}"`;
    return `SharedNDArray(${this.dtype.name}, [${this.shape.join(', ')}], ${where}${this.#block.released ? ', released' : ''})`;
  }
}

function localBlock(dt: DType, shape: readonly number[], buffer: ArrayBuffer): Block {
  return new Block({
    local: buffer,
    dtype: dt,
    dataOffset: 0,
    dataLength: buffer.byteLength,
    base: { shape, strides: contiguousStrides(shape) },
    readOnly: false,
    owned: false,
    scope: null,
    arrayId: 0n,
  });
}

function swapInPlace(bytes: Uint8Array, width: number): void {
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

// The array object a first open makes (see primeOpenPath in open.ts): once at import, over local memory.
{
  const array = makeArray(localBlock(toDType('<f8'), [2], new ArrayBuffer(16)), { shape: [2], strides: [1], offset: 0 }, toDType('<f8'));
  void array.nbytes;
  array.release();
}
