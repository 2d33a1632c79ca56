// The self-describing header at the start of an ndshm array segment (docs/format.md is the spec).
// Everything here works on plain bytes, so the watchdog and gc can read a header without the addon,
// and nothing read from shared memory is trusted before it is checked.
//
//  off size  field
//    0    8  magic "NDSHMARR" (written last, so a reader never sees a half-written header)
//    8    2  format version (1)
//   10    2  header length in bytes: 128 + 16 * ndim
//   12    4  flags: bit 0 persistent; bit 1 pack (a "|u1" array whose parts are viewed with their own
//            dtypes: the arrays of a store); bit 2 store data (kept while a published store lists it)
//   16    8  data offset (a multiple of 64, >= header length)
//   24    8  data length in bytes
//   32    4  ndim (<= 32)
//   36    4  reserved, 0
//   40   16  typestr, ASCII, NUL-padded ("<f8", "|b1", ">i4", ...)
//   56    8  owner pid
//   64    8  owner start time (clock ticks since boot, /proc/PID/stat field 22)
//   72    8  owner tag (random per owning thread; 0 = nobody, e.g. persistent)
//   80    8  generation (incremented by writers that want readers to notice)
//   88    8  creation time, milliseconds since the epoch
//   96    8  array id: random, tells this array apart from a later one of the same name
//  104    8  adoption offer: nonzero while a 'remote' array waits for another process to adopt it
//            (the first one to swap it for 0 owns the array; the creator withdraws it the same way)
//  112   16  reserved, 0
//  128  8*n  shape (int64)
//  ...  8*n  strides in bytes (int64)
// All integers little-endian.

import { NdshmError } from '../errors.js';

export const magic = 'NDSHMARR';
export const magicValue = 0x5252414d4853444en; // "NDSHMARR" read as a little-endian u64
export const formatVersion = 1;
export const fixedLength = 128;
export const maxDims = 32;
export const dataAlignment = 64;
export const flagPersistent = 1;
export const flagPack = 2;
export const flagStoreData = 4;

export const offsets = {
  version: 8,
  headerLength: 10,
  flags: 12,
  dataOffset: 16,
  dataLength: 24,
  ndim: 32,
  typestr: 40,
  ownerPid: 56,
  ownerStart: 64,
  ownerTag: 72,
  generation: 80,
  created: 88,
  arrayId: 96,
  offer: 104,
  shape: 128,
} as const;

export interface Header {
  readonly typestr: string;
  readonly shape: readonly number[];
  /** Byte strides of the base array. */
  readonly strides: readonly number[];
  readonly dataOffset: number;
  readonly dataLength: number;
  readonly persistent: boolean;
  /** Other bits of the flags word (flagPack, flagStoreData). */
  readonly flags?: number;
  readonly ownerPid: number;
  readonly ownerStart: number;
  readonly ownerTag: bigint;
  readonly created: number;
  readonly arrayId: bigint;
  /** Nonzero while the creator offers the array for adoption (scope 'remote'). */
  readonly offer: bigint;
}

export function headerLength(ndim: number): number {
  return fixedLength + 16 * ndim;
}

export function dataOffsetFor(ndim: number): number {
  return Math.ceil(headerLength(ndim) / dataAlignment) * dataAlignment;
}

/** Writes every field but the magic; `publish` writes the magic once the rest is in place. */
export function writeHeader(bytes: Uint8Array, h: Header): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, headerLength(h.shape.length));
  view.setUint16(offsets.version, formatVersion, true);
  view.setUint16(offsets.headerLength, headerLength(h.shape.length), true);
  view.setUint32(offsets.flags, (h.flags ?? 0) | (h.persistent ? flagPersistent : 0), true);
  view.setBigUint64(offsets.dataOffset, BigInt(h.dataOffset), true);
  view.setBigUint64(offsets.dataLength, BigInt(h.dataLength), true);
  view.setUint32(offsets.ndim, h.shape.length, true);
  for (let i = 0; i < 16; i++) view.setUint8(offsets.typestr + i, i < h.typestr.length ? h.typestr.charCodeAt(i) : 0);
  view.setBigUint64(offsets.ownerPid, BigInt(h.ownerPid), true);
  view.setBigUint64(offsets.ownerStart, BigInt(h.ownerStart), true);
  view.setBigUint64(offsets.ownerTag, h.ownerTag, true);
  view.setFloat64(offsets.created, h.created, true);
  view.setBigUint64(offsets.arrayId, h.arrayId, true);
  view.setBigUint64(offsets.offer, h.offer, true);
  h.shape.forEach((n, i) => view.setBigInt64(offsets.shape + 8 * i, BigInt(n), true));
  const stridesAt = offsets.shape + 8 * h.shape.length;
  h.strides.forEach((s, i) => view.setBigInt64(stridesAt + 8 * i, BigInt(s), true));
}

/** Makes the header visible: the magic is stored last, with sequentially consistent ordering. */
export function publish(buffer: ArrayBuffer): void {
  Atomics.store(new BigUint64Array(buffer, 0, 1), 0, magicValue);
}

export function hasMagic(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 8 && magicIn(new DataView(bytes.buffer, bytes.byteOffset, 8));
}

// The magic as two little-endian 32-bit words (see u64 below for why not one BigInt).
function magicIn(view: DataView): boolean {
  return view.getUint32(0, true) === 0x4853444e && view.getUint32(4, true) === 0x5252414d;
}

function bad(name: string, why: string): NdshmError {
  return new NdshmError('EBADHEADER', `segment "${name}" has a bad ndshm header: ${why}`, { segment: name });
}

// 64-bit fields read as two 32-bit halves: plain number arithmetic, no BigInt (this runs on every
// open, mostly in V8's interpreter in a fresh process, where BigInt is slow).
function u64(view: DataView, at: number, name: string, field: string): number {
  const hi = view.getUint32(at + 4, true);
  if (hi > 0x1fffff) throw bad(name, `${field} is out of range`);
  return hi * 0x100000000 + view.getUint32(at, true);
}

function i64(view: DataView, at: number, name: string, field: string): number {
  const hi = view.getInt32(at + 4, true);
  if (hi > 0x1fffff || hi < -0x200000) throw bad(name, `${field} is out of range`);
  return hi * 0x100000000 + view.getUint32(at, true);
}

/**
 * Reads and checks a header. `size` is the segment's real size (fstat), which every offset and length
 * is checked against. Checks the layout only; the dtype and strides are for the array layer to judge.
 */
export function readHeader(bytes: Uint8Array, size: number, name: string): Header {
  if (size < fixedLength || bytes.byteLength < fixedLength) throw bad(name, `segment is ${size} bytes, smaller than a header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!magicIn(view)) {
    const zero = bytes.subarray(0, 8).every((b) => b === 0);
    throw bad(name, zero ? 'no header yet (being created, or not an ndshm array)' : 'no ndshm magic (not an ndshm array)');
  }
  const version = view.getUint16(offsets.version, true);
  if (version !== formatVersion) throw bad(name, `format version ${version} (this ndshm reads version ${formatVersion})`);
  const ndim = view.getUint32(offsets.ndim, true);
  if (ndim > maxDims) throw bad(name, `ndim ${ndim} exceeds ${maxDims}`);
  const length = view.getUint16(offsets.headerLength, true);
  if (length !== headerLength(ndim)) throw bad(name, `header length ${length} does not match ndim ${ndim}`);
  if (length > size || length > bytes.byteLength) throw bad(name, `header length ${length} exceeds the segment (${size} bytes)`);
  const dataOffset = u64(view, offsets.dataOffset, name, 'data offset');
  const dataLength = u64(view, offsets.dataLength, name, 'data length');
  if (dataOffset < length || dataOffset % dataAlignment !== 0) throw bad(name, `data offset ${dataOffset} is misplaced`);
  if (dataOffset + dataLength > size) {
    throw bad(name, `data (${dataLength} bytes at ${dataOffset}) runs past the end of the segment (${size} bytes)`);
  }
  let typestr = '';
  for (let i = 0; i < 16; i++) {
    const c = view.getUint8(offsets.typestr + i);
    if (c === 0) break;
    if (c < 0x20 || c > 0x7e) throw bad(name, 'typestr is not printable ASCII');
    typestr += String.fromCharCode(c);
  }
  const shape: number[] = [];
  const strides: number[] = [];
  const stridesAt = offsets.shape + 8 * ndim;
  for (let i = 0; i < ndim; i++) {
    const d = i64(view, offsets.shape + 8 * i, name, `shape[${i}]`);
    if (d < 0) throw bad(name, `shape[${i}] ${d} is negative`);
    shape.push(d);
    strides.push(i64(view, stridesAt + 8 * i, name, `strides[${i}]`));
  }
  return {
    typestr,
    shape,
    strides,
    dataOffset,
    dataLength,
    persistent: (view.getUint32(offsets.flags, true) & flagPersistent) !== 0,
    flags: view.getUint32(offsets.flags, true),
    ownerPid: view.getUint32(offsets.ownerPid, true),
    ownerStart: u64(view, offsets.ownerStart, name, 'owner start time'),
    ownerTag: view.getBigUint64(offsets.ownerTag, true),
    created: view.getFloat64(offsets.created, true),
    arrayId: view.getBigUint64(offsets.arrayId, true),
    offer: view.getBigUint64(offsets.offer, true),
  };
}
