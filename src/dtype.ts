// Element types, named as numpy names them ("float64", "<f8", "f8") or as Triton does ("FP64").

import { invalid } from './errors.js';

export type DTypeName =
  | 'bool'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'float16'
  | 'float32'
  | 'float64'
  | 'complex64'
  | 'complex128';

export type ByteOrder = '<' | '>' | '|';

export type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

export interface TypedArrayConstructor {
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): TypedArray;
  new (length: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
}

export interface DType {
  readonly name: DTypeName;
  /** numpy's kind character: b(ool), i(nt), u(nsigned), f(loat), c(omplex). */
  readonly kind: 'b' | 'i' | 'u' | 'f' | 'c';
  /** Bytes per element. */
  readonly itemsize: number;
  readonly byteOrder: ByteOrder;
  /** numpy's array-interface typestr: "<f8", ">i4", "|b1". */
  readonly typestr: string;
  /** True when the bytes can be read in place by a JS typed array (this machine's byte order). */
  readonly native: boolean;
  /** Numbers per element in the typed array: 2 for complex (interleaved real, imaginary). */
  readonly lanes: 1 | 2;
  /** The typed array that views this dtype's bytes (float16 is Uint16Array where Float16Array is missing). */
  readonly arrayType: TypedArrayConstructor;
}

export type DTypeLike = DTypeName | string | DType;

const float16Array = (globalThis as { Float16Array?: TypedArrayConstructor }).Float16Array;
export const hasFloat16Array = float16Array !== undefined;
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const nativeOrder: ByteOrder = littleEndian ? '<' : '>';

interface Base {
  name: DTypeName;
  kind: DType['kind'];
  itemsize: number;
  lanes: 1 | 2;
  arrayType: TypedArrayConstructor;
}

const bases: Base[] = [
  { name: 'bool', kind: 'b', itemsize: 1, lanes: 1, arrayType: Uint8Array },
  { name: 'int8', kind: 'i', itemsize: 1, lanes: 1, arrayType: Int8Array },
  { name: 'uint8', kind: 'u', itemsize: 1, lanes: 1, arrayType: Uint8Array },
  { name: 'int16', kind: 'i', itemsize: 2, lanes: 1, arrayType: Int16Array },
  { name: 'uint16', kind: 'u', itemsize: 2, lanes: 1, arrayType: Uint16Array },
  { name: 'int32', kind: 'i', itemsize: 4, lanes: 1, arrayType: Int32Array },
  { name: 'uint32', kind: 'u', itemsize: 4, lanes: 1, arrayType: Uint32Array },
  { name: 'int64', kind: 'i', itemsize: 8, lanes: 1, arrayType: BigInt64Array },
  { name: 'uint64', kind: 'u', itemsize: 8, lanes: 1, arrayType: BigUint64Array },
  { name: 'float16', kind: 'f', itemsize: 2, lanes: 1, arrayType: float16Array ?? Uint16Array },
  { name: 'float32', kind: 'f', itemsize: 4, lanes: 1, arrayType: Float32Array },
  { name: 'float64', kind: 'f', itemsize: 8, lanes: 1, arrayType: Float64Array },
  { name: 'complex64', kind: 'c', itemsize: 8, lanes: 2, arrayType: Float32Array },
  { name: 'complex128', kind: 'c', itemsize: 16, lanes: 2, arrayType: Float64Array },
];

const byName = new Map(bases.map((b) => [b.name, b]));
const byKindSize = new Map(bases.map((b) => [`${b.kind}${b.itemsize}`, b]));

// Other spellings people use for the same types.
const aliases: Record<string, DTypeName> = {
  bool_: 'bool',
  boolean: 'bool',
  '?': 'bool',
  byte: 'int8',
  ubyte: 'uint8',
  short: 'int16',
  ushort: 'uint16',
  intc: 'int32',
  uintc: 'uint32',
  int: 'int64',
  int_: 'int64',
  uint: 'uint64',
  long: 'int64',
  ulong: 'uint64',
  longlong: 'int64',
  ulonglong: 'uint64',
  half: 'float16',
  single: 'float32',
  double: 'float64',
  float: 'float64',
  float_: 'float64',
  csingle: 'complex64',
  cdouble: 'complex128',
  complex: 'complex128',
  complex_: 'complex128',
  // Triton's datatype names
  BOOL: 'bool',
  INT8: 'int8',
  UINT8: 'uint8',
  INT16: 'int16',
  UINT16: 'uint16',
  INT32: 'int32',
  UINT32: 'uint32',
  INT64: 'int64',
  UINT64: 'uint64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
};

const cache = new Map<string, DType>();

function make(base: Base, order: ByteOrder): DType {
  const byteOrder: ByteOrder = base.itemsize === 1 ? '|' : order;
  const key = `${base.name}${byteOrder}`;
  let dt = cache.get(key);
  if (dt === undefined) {
    dt = Object.freeze({
      name: base.name,
      kind: base.kind,
      itemsize: base.itemsize,
      byteOrder,
      typestr: `${byteOrder}${base.kind}${base.itemsize}`,
      native: byteOrder === '|' || byteOrder === nativeOrder,
      lanes: base.lanes,
      arrayType: base.arrayType,
    });
    cache.set(key, dt);
  }
  return dt;
}

/**
 * [<>=|]?[biufc]digits, read by hand: it runs on every open, and a regular expression there cost
 * ~100 us at its second use in a fresh process (V8 compiles a regex to machine code then).
 */
function parseTypestr(spec: string): { order: string; kind: string; size: string } | undefined {
  let i = 0;
  const first = spec.charAt(0);
  const order = first === '<' || first === '>' || first === '=' || first === '|' ? first : '';
  if (order !== '') i = 1;
  const kind = spec.charAt(i);
  if (kind === '' || !'biufc'.includes(kind)) return undefined;
  const size = spec.slice(i + 1);
  if (size.length === 0 || size.length > 2) return undefined;
  for (let k = 0; k < size.length; k++) {
    const c = size.charCodeAt(k);
    if (c < 48 || c > 57) return undefined;
  }
  return { order, kind, size };
}

/** Resolves a dtype spelling to its description; EINVAL for anything ndshm cannot hold. */
export function dtype(spec: DTypeLike): DType {
  if (typeof spec === 'object' && spec !== null && typeof spec.typestr === 'string') return dtype(spec.typestr);
  if (typeof spec !== 'string') throw invalid(`dtype must be a string such as "float64" or "<f8", got ${typeof spec}`);
  const named = byName.get(spec as DTypeName) ?? byName.get(aliases[spec] as DTypeName);
  if (named !== undefined) return make(named, nativeOrder);
  const m = parseTypestr(spec);
  if (m !== undefined) {
    const order = m.order === '' || m.order === '=' ? nativeOrder : (m.order as ByteOrder);
    const base = byKindSize.get(`${m.kind}${m.size}`);
    if (base !== undefined && !(order === '|' && base.itemsize > 1)) return make(base, order);
  }
  throw invalid(
    `unsupported dtype ${JSON.stringify(spec)}: use a numpy name (bool, int8..int64, uint8..uint64, float16, float32, ` +
      `float64, complex64, complex128), a typestr such as "<f8" or ">i4", or a Triton name such as "FP32"`,
  );
}

/** The dtype a typed array holds (little- or big-endian as this machine is). */
export function dtypeOfArray(array: TypedArray): DType {
  const name = typedArrayDTypes.get(Object.getPrototypeOf(array).constructor as TypedArrayConstructor);
  if (name === undefined) throw invalid(`unsupported typed array ${Object.prototype.toString.call(array)}`);
  return dtype(name);
}

const typedArrayDTypes = new Map<TypedArrayConstructor, DTypeName>([
  [Int8Array, 'int8'],
  [Uint8Array, 'uint8'],
  [Uint8ClampedArray as unknown as TypedArrayConstructor, 'uint8'],
  [Int16Array, 'int16'],
  [Uint16Array, 'uint16'],
  [Int32Array, 'int32'],
  [Uint32Array, 'uint32'],
  [BigInt64Array, 'int64'],
  [BigUint64Array, 'uint64'],
  [Float32Array, 'float32'],
  [Float64Array, 'float64'],
]);
if (float16Array !== undefined) typedArrayDTypes.set(float16Array, 'float16');

export function isTypedArray(value: unknown): value is TypedArray {
  return ArrayBuffer.isView(value) && !(value instanceof DataView);
}

/** A copy, in this machine's byte order, of numbers `width` bytes wide stored in the other order. */
export function byteSwappedCopy(bytes: Uint8Array, width: number, Array_: TypedArrayConstructor): TypedArray {
  const out = new Uint8Array(bytes.byteLength);
  for (let i = 0; i < bytes.byteLength; i += width) {
    for (let j = 0; j < width; j++) out[i + j] = bytes[i + width - 1 - j]!;
  }
  return new Array_(out.buffer, 0, bytes.byteLength / width);
}
