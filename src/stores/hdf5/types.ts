// HDF5 element types (as h5wasm describes them in its Metadata) mapped to ndshm dtypes, and the byte
// order of the bytes h5wasm hands back.
//
// h5wasm reads with a memory type that is the file's type, except that it sets little-endian order
// when HDF5 reports the type as big-endian (H5Tget_order == BE). For a compound HDF5 reports BE only
// when every member that has an order is BE; a mix reports MIXED, and then nothing is converted.
// Setting the order can fail part-way (conversionOf): HDF5 refuses it for an enum, so a big-endian
// enum comes back as it is in the file. We keep the file's byte order in the store, so bytes that
// h5wasm converted are swapped back, and only those.

import type { CompoundMember, Metadata } from 'h5wasm/node';

import { type DType, dtype as toDType } from '../../dtype.js';

/** HDF5's H5T_class_t values (H5Tpublic.h; COMPLEX is new in HDF5 2.0). */
export const typeClass = {
  integer: 0,
  float: 1,
  time: 2,
  string: 3,
  bitfield: 4,
  opaque: 5,
  compound: 6,
  reference: 7,
  enum: 8,
  vlen: 9,
  array: 10,
  complex: 11,
} as const;

export type Hdf5Order = 'LE' | 'BE' | 'NONE' | 'MIXED';

/** What H5Tget_order reports for a type: the rule h5wasm's read conversion follows. */
export function hdf5Order(m: Metadata): Hdf5Order {
  switch (m.type) {
    case typeClass.integer:
    case typeClass.float:
    case typeClass.time:
    case typeClass.bitfield:
    case typeClass.enum:
    case typeClass.complex:
      return m.littleEndian ? 'LE' : 'BE';
    case typeClass.array:
      return m.array_type === undefined ? 'NONE' : hdf5Order(m.array_type);
    case typeClass.compound: {
      let out: Hdf5Order = 'NONE';
      for (const member of m.compound_type?.members ?? []) {
        const o = hdf5Order(member);
        if (o === 'NONE') continue;
        if (o === 'MIXED' || (out !== 'NONE' && o !== out)) return 'MIXED';
        out = o;
      }
      return out;
    }
    default:
      return 'NONE'; // strings, opaque, references, vlen
  }
}

/** Which numbers h5wasm converted to little-endian: for a whole type, or per member of a compound. */
export type Conversion = boolean | readonly Conversion[];

/** What h5wasm's H5Tset_order(memtype, LE) did to this type's numbers when it read them. */
export function conversionOf(m: Metadata): Conversion {
  return hdf5Order(m) === 'BE' ? setOrder(m).done : false;
}

// H5Tset_order on a copy of the type: HDF5 refuses an enum that has members (and strings, opaque data
// and references); in a compound it sets the members one by one and stops at the first refusal, so the
// members before it are converted and the rest are not. h5wasm ignores the failure. (Measured with
// h5wasm 0.10.3 / HDF5 2.0: a '>i2' enum, an array of it, and compounds with an enum member first and
// in the middle.)
function setOrder(m: Metadata): { done: Conversion; ok: boolean } {
  switch (m.type) {
    case typeClass.enum:
    case typeClass.string:
    case typeClass.opaque:
    case typeClass.reference:
      return { done: false, ok: false };
    case typeClass.array:
      return m.array_type === undefined ? { done: false, ok: false } : setOrder(m.array_type);
    case typeClass.compound: {
      const done: Conversion[] = [];
      let ok = true;
      for (const member of m.compound_type?.members ?? []) {
        if (!ok) {
          done.push(false);
          continue;
        }
        const r = setOrder(member);
        done.push(r.done);
        ok = r.ok;
      }
      return { done, ok };
    }
    default:
      return { done: true, ok: true };
  }
}

/** The conversion of member `i` of a compound whose conversion is `c`. */
export function memberConversion(c: Conversion, i: number): Conversion {
  return typeof c === 'boolean' ? c : (c[i] ?? false);
}

/** True when every number of the type was converted (a complex {r, i} pair counts as one type). */
export function allConverted(c: Conversion): boolean {
  return typeof c === 'boolean' ? c : c.length > 0 && c.every(allConverted);
}


/** One numeric element: its dtype, and the trailing dimensions of an HDF5 array type (e.g. f4[3]). */
export interface NumericElement {
  readonly dtype: DType;
  readonly dims: readonly number[];
}

/** h5py's bool: an enum of int8 with exactly FALSE=0 and TRUE=1. */
export function isBoolEnum(m: Metadata): boolean {
  const members = m.enum_type?.members;
  if (m.type !== typeClass.enum || members === undefined || m.size !== 1) return false;
  const names = Object.keys(members);
  return names.length === 2 && members['FALSE'] === 0 && members['TRUE'] === 1;
}

/** h5py's complex: a compound {r, i} of two floats of one size and byte order, packed. */
export function isComplexCompound(m: Metadata): boolean {
  const members = m.compound_type?.members;
  if (m.type !== typeClass.compound || members?.length !== 2) return false;
  const [r, i] = members as [CompoundMember, CompoundMember];
  return (
    r.name === 'r' &&
    i.name === 'i' &&
    r.type === typeClass.float &&
    i.type === typeClass.float &&
    (r.size === 4 || r.size === 8) &&
    i.size === r.size &&
    r.offset === 0 &&
    i.offset === r.size &&
    m.size === 2 * r.size &&
    r.littleEndian === i.littleEndian
  );
}

const order = (m: Metadata): string => (m.littleEndian ? '<' : '>');

/** The ndshm element for an HDF5 type, or why there is none (a phrase: "strings", ...). */
export function numericElement(m: Metadata): NumericElement | string {
  switch (m.type) {
    case typeClass.integer:
      if (m.size === 1 || m.size === 2 || m.size === 4 || m.size === 8) {
        return { dtype: toDType(`${order(m)}${m.signed ? 'i' : 'u'}${m.size}`), dims: [] };
      }
      return `${m.size * 8}-bit integers`;
    case typeClass.float:
      if (m.size === 2 || m.size === 4 || m.size === 8) return { dtype: toDType(`${order(m)}f${m.size}`), dims: [] };
      return `${m.size * 8}-bit floats`;
    case typeClass.enum: {
      if (isBoolEnum(m)) return { dtype: toDType('bool'), dims: [] };
      const base = m.enum_type?.type;
      if (base !== typeClass.integer) return 'an enum of a non-integer type';
      return numericElement({ ...m, type: base }); // other enums: their integer values
    }
    case typeClass.compound:
      if (isComplexCompound(m)) return { dtype: toDType(`${order(m.compound_type!.members[0]!)}c${m.size}`), dims: [] };
      return 'a compound (structured) type';
    case typeClass.complex:
      // HDF5 2.0's own complex type: untested (h5py writes complex as the compound above).
      if (m.size === 8 || m.size === 16) return { dtype: toDType(`${order(m)}c${m.size}`), dims: [] };
      return `${m.size * 8}-bit complex numbers`;
    case typeClass.array: {
      if (m.array_type === undefined) return 'an array type without a base type';
      const base = numericElement(m.array_type);
      if (typeof base === 'string') return `an array type of ${base}`;
      return { dtype: base.dtype, dims: [...(m.array_type.shape ?? []), ...base.dims] };
    }
    case typeClass.string:
      return m.vlen ? 'variable-length strings' : 'fixed-length strings';
    case typeClass.opaque:
      return 'opaque bytes';
    case typeClass.reference:
      return 'references';
    case typeClass.vlen:
      return 'variable-length sequences';
    case typeClass.time:
      return 'HDF5 time values';
    case typeClass.bitfield:
      return 'bitfields';
    default:
      return `HDF5 type class ${m.type}`;
  }
}

/** Bytes of one element, trailing array dimensions included. */
export function elementBytes(e: NumericElement): number {
  return e.dims.reduce((a, b) => a * b, e.dtype.itemsize);
}

/** Width of the byte swaps that restore the file's order after h5wasm converted it (0: none). */
export function swapWidth(e: NumericElement, converted: boolean): number {
  const width = e.dtype.itemsize / e.dtype.lanes;
  return converted && width > 1 ? width : 0;
}
