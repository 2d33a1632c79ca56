// HDF5 attributes as ndshm attribute values.
//
//   integers, floats         number (bigint for 64-bit integers); 1-d: a typed array (float16: Float32Array)
//   h5py bools (enum)        boolean; other enums: their integer values
//   fixed-length strings     string: UTF-8 ones decoded, ASCII ones byte for byte (latin1, so every
//                            byte survives: h5py's numpy.bytes_ values come back as strings; Buffer.from(s, 'latin1') gives the bytes)
//   variable-length strings  string
//   opaque (numpy.void)      Uint8Array
//   compound (incl. complex) plain object { member: value } (complex: { r, i })
//   HDF5 array types         nested arrays
//   empty (null dataspace)   null
//   n-d attributes           nested arrays (of typed arrays for numbers)
//   references               skipped (with the reason)
//
// Numbers are read with h5wasm's Module.get_attribute_data and decoded here: h5wasm's own decoding
// cuts fixed-length strings at their first NUL, throws for float16 and reads the big-endian members
// of mixed-order compounds as little-endian.

import type { Attribute, Metadata } from 'h5wasm/node';
import { newNode, setOwn } from '../../tree.js';

import type { TypedArray } from '../../dtype.js';
import { invalid, show } from '../../errors.js';
import type { AttrValue, Attrs } from '../attrs.js';
import type { H5Module } from './slabs.js';
import { type Conversion, allConverted, conversionOf, isBoolEnum, memberConversion, numericElement, typeClass } from './types.js';

/** An attribute (or part of one) that has no ndshm form; `reason` says what it is. */
export class UnsupportedAttribute extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

export interface HasAttributes {
  readonly file_id: bigint;
  readonly path: string;
  readonly attrs: Record<string, Attribute>;
}

/** The object's attributes; `skip` hears of each one left out, and why ("holds references"). */
export function readAttributes(module: H5Module, obj: HasAttributes, skip: (attribute: string, reason: string) => void): Attrs {
  const out = newNode<AttrValue>();
  const attrs = obj.attrs; // a getter: builds the name list on each access
  for (const name of Object.keys(attrs)) {
    if (name.startsWith('@')) {
      skip(name, 'has a name ndshm attributes may not have (starting with "@")');
      continue;
    }
    try {
      setOwn(out, name, readAttribute(module, obj, attrs[name]!));
    } catch (err) {
      if (!(err instanceof UnsupportedAttribute)) throw err;
      skip(name, `holds ${err.reason}`);
    }
  }
  return out;
}

function readAttribute(module: H5Module, obj: HasAttributes, attr: Attribute): AttrValue {
  const m = attr.metadata;
  const shape = m.shape;
  if (shape === null) return null; // h5py.Empty
  if ((m.type === typeClass.string && m.vlen) || m.type === typeClass.vlen) {
    const value = attr.value; // h5wasm follows the heap pointers and frees them
    return shape.length === 0 ? plainValue(value) : shaped((value as unknown[]).map(plainValue), shape);
  }
  const decode = decoder(m, conversionOf(m));
  const bytes = readRaw(module, obj, attr.name, m);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (shape.length === 0) return decode(view, 0);
  const count = m.total_size;
  const Numbers = numberArrayType(m);
  if (Numbers !== undefined) {
    const out = new Numbers(count) as TypedArray & { [i: number]: number | bigint };
    for (let i = 0; i < count; i++) out[i] = decode(view, i * m.size) as number | bigint;
    return shaped(out, shape);
  }
  return shaped(Array.from({ length: count }, (_, i) => decode(view, i * m.size)), shape);
}

function readRaw(module: H5Module, obj: HasAttributes, name: string, m: Metadata): Uint8Array {
  const nbytes = m.size * m.total_size;
  const ptr = module._malloc(Math.max(nbytes, 1));
  if (ptr === 0) throw invalid(`${obj.path}: no room in the wasm heap for attribute "${name}" (${nbytes} bytes)`);
  try {
    const status = module.get_attribute_data(obj.file_id, obj.path, name, BigInt(ptr));
    if (status < 0) throw invalid(`${obj.path}: HDF5 could not read attribute "${name}" (status ${status})`);
    return module.HEAPU8.slice(ptr, ptr + nbytes);
  } finally {
    module._free(ptr);
  }
}

type Decode = (view: DataView, at: number) => AttrValue;

/** Decodes one element of type `m` at byte `at`; `converted`: which numbers h5wasm made little-endian. */
function decoder(m: Metadata, converted: Conversion): Decode {
  const le = allConverted(converted) || m.littleEndian;
  switch (m.type) {
    case typeClass.integer:
      switch (m.size) {
        case 1:
          return m.signed ? (v, at) => v.getInt8(at) : (v, at) => v.getUint8(at);
        case 2:
          return m.signed ? (v, at) => v.getInt16(at, le) : (v, at) => v.getUint16(at, le);
        case 4:
          return m.signed ? (v, at) => v.getInt32(at, le) : (v, at) => v.getUint32(at, le);
        case 8:
          return m.signed ? (v, at) => v.getBigInt64(at, le) : (v, at) => v.getBigUint64(at, le);
      }
      break;
    case typeClass.float:
      switch (m.size) {
        case 2:
          return (v, at) => halfToNumber(v.getUint16(at, le));
        case 4:
          return (v, at) => v.getFloat32(at, le);
        case 8:
          return (v, at) => v.getFloat64(at, le);
      }
      break;
    case typeClass.enum: {
      if (m.enum_type?.type !== typeClass.integer) break;
      const base = decoder({ ...m, type: typeClass.integer }, converted);
      return isBoolEnum(m) ? (v, at) => base(v, at) !== 0 : base;
    }
    case typeClass.compound: {
      const members = (m.compound_type?.members ?? []).map((member, i) => {
        if (member.name.startsWith('@')) throw new UnsupportedAttribute(`a compound member named ${show(member.name)}`);
        return { name: member.name, offset: member.offset, decode: decoder(member, memberConversion(converted, i)) };
      });
      return (v, at) => {
        const out = newNode<AttrValue>();
        for (const member of members) setOwn(out, member.name, member.decode(v, at + member.offset));
        return out;
      };
    }
    case typeClass.complex: {
      const half = m.size / 2;
      const part = decoder({ ...m, type: typeClass.float, size: half }, converted);
      return (v, at) => ({ r: part(v, at), i: part(v, at + half) });
    }
    case typeClass.array: {
      const base = m.array_type;
      if (base === undefined) break;
      const dims = base.shape ?? [];
      const count = dims.reduce((a, b) => a * b, 1);
      const decodeBase = decoder(base, converted);
      return (v, at) => shaped(Array.from({ length: count }, (_, i) => decodeBase(v, at + i * base.size)), dims);
    }
    case typeClass.string:
      if (m.vlen) break; // handled by the caller (only at the top level)
      return (v, at) => fixedString(new Uint8Array(v.buffer, v.byteOffset + at, m.size), m.cset ?? 0, m.strpad ?? 0);
    case typeClass.opaque:
      return (v, at) => new Uint8Array(v.buffer.slice(v.byteOffset + at, v.byteOffset + at + m.size));
  }
  const what = numericElement(m);
  throw new UnsupportedAttribute(typeof what === 'string' ? what : `HDF5 type class ${m.type}`);
}

/** The typed array for a 1-d or n-d attribute of plain numbers; undefined for other types. */
function numberArrayType(m: Metadata): (new (length: number) => TypedArray) | undefined {
  const isInteger = m.type === typeClass.integer || (m.type === typeClass.enum && m.enum_type?.type === typeClass.integer && !isBoolEnum(m));
  if (isInteger) {
    const types = m.signed
      ? { 1: Int8Array, 2: Int16Array, 4: Int32Array, 8: BigInt64Array }
      : { 1: Uint8Array, 2: Uint16Array, 4: Uint32Array, 8: BigUint64Array };
    return types[m.size as 1 | 2 | 4 | 8];
  }
  if (m.type === typeClass.float) return m.size === 8 ? Float64Array : Float32Array; // float32 holds every float16
  return undefined;
}

/** C-order values as nested arrays of `shape` (a flat array or typed array when 1-d). */
function shaped(values: AttrValue[] | TypedArray, shape: readonly number[]): AttrValue {
  if (shape.length <= 1) return values as AttrValue;
  const inner = shape.slice(1).reduce((a, b) => a * b, 1);
  return Array.from({ length: shape[0]! }, (_, i) => {
    const part = 'subarray' in values ? values.subarray(i * inner, (i + 1) * inner) : values.slice(i * inner, (i + 1) * inner);
    return shaped(part as AttrValue[] | TypedArray, shape.slice(1));
  });
}

/** A value h5wasm decoded (variable-length data), checked to be an attribute value. */
function plainValue(v: unknown): AttrValue {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return v;
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return v as TypedArray;
  if (Array.isArray(v)) return v.map(plainValue);
  throw new UnsupportedAttribute(`variable-length data holding ${v?.constructor?.name ?? typeof v} values`);
}

/** A fixed-length string without its padding: UTF-8 decoded, ASCII byte for byte (latin1). */
function fixedString(bytes: Uint8Array, cset: number, strpad: number): string {
  let end = bytes.length;
  if (strpad === 0) {
    const nul = bytes.indexOf(0); // H5T_STR_NULLTERM
    if (nul >= 0) end = nul;
  }
  while (end > 0 && bytes[end - 1] === 0) end--; // NULLPAD, and zero-filled SPACEPAD strings (h5wasm writes those)
  if (strpad === 2) while (end > 0 && bytes[end - 1] === 0x20) end--; // H5T_STR_SPACEPAD
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, end);
  return cset === 1 ? text.toString('utf8') : text.toString('latin1');
}

/** IEEE 754 binary16 to a number (DataView.getFloat16 is missing before Node 24). */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}
