// Where a dataset's bytes lie in the HDF5 file, from the file's own metadata (HDF5 File Format
// Specification 3.0: superblock, object headers version 1 and 2, data layout message version 3 and 4),
// so that contiguous, unfiltered datasets can be copied from the file into shared memory by the
// kernel instead of through h5wasm's heap. h5wasm does not expose H5Dget_offset; it does give the
// address of a dataset's object header (an object reference is that address), and the header's
// layout message gives the data's address and size.
//
// Only a plain answer counts: anything unexpected (an old layout message version, a bad checksum, a
// message that runs past its chunk) means "not known", and the dataset goes through h5wasm's slabs as
// before, where HDF5 itself reads it. Nothing here trusts a number before checking it against the file.

import type { InputFile } from '../files.js';
import { readExactly } from '../files.js';

export interface Hdf5Geometry {
  /** Where the superblock is: HDF5 addresses count from here (HDF5 moves its base to the superblock). */
  readonly base: number;
  readonly offsetSize: number;
  readonly lengthSize: number;
  readonly superblockVersion: number;
}

export type Storage =
  | { readonly kind: 'contiguous'; readonly position: number; readonly size: number }
  | { readonly kind: 'other'; readonly why: string };

const signature = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

const msgLayout = 0x0008;
const msgExternalFiles = 0x0007;
const msgFilters = 0x000b;
const msgContinuation = 0x0010;

/** Object header chunks of one dataset: more is not a dataset we know. */
const maxChunks = 1024;
const maxChunkBytes = 1 << 20;

class Unknown extends Error {}
const unknown = (why: string): never => {
  throw new Unknown(why);
};

function bytesAt(file: InputFile, position: number, length: number): Uint8Array {
  if (!Number.isSafeInteger(position) || position < 0 || position + length > file.size) unknown(`${length} bytes at ${position} lie outside the file`);
  const out = new Uint8Array(length);
  readExactly(file, out, position);
  return out;
}

/** An unsigned little-endian integer of 2, 4 or 8 bytes; undefined for HDF5's undefined address (all ones). */
function uint(b: Uint8Array, at: number, size: number): number | undefined {
  if (at + size > b.length) return unknown('a field runs past its message');
  let allOnes = true;
  let v = 0;
  for (let i = size - 1; i >= 0; i--) {
    const byte = b[at + i]!;
    if (byte !== 0xff) allOnes = false;
    v = v * 256 + byte;
  }
  if (allOnes && size >= 4) return undefined;
  if (!Number.isSafeInteger(v)) unknown('an address beyond 2^53');
  return v;
}

/** The superblock at `position` (where checkHdf5File found the signature); undefined if not understood. */
export function readSuperblock(file: InputFile, position: number): Hdf5Geometry | undefined {
  try {
    const head = bytesAt(file, position, Math.min(64, file.size - position));
    if (signature.some((s, i) => head[i] !== s)) return undefined;
    const version = head[8]!;
    let offsetSize: number;
    let lengthSize: number;
    if (version === 0 || version === 1) {
      offsetSize = head[13]!;
      lengthSize = head[14]!;
    } else if (version === 2 || version === 3) {
      offsetSize = head[9]!;
      lengthSize = head[10]!;
      const length = 12 + 4 * offsetSize;
      const whole = bytesAt(file, position, length + 4);
      const stored = new DataView(whole.buffer).getUint32(length, true);
      if (lookup3(whole.subarray(0, length)) !== stored) return undefined;
    } else {
      return undefined;
    }
    if (![2, 4, 8].includes(offsetSize) || ![2, 4, 8].includes(lengthSize)) return undefined;
    return { base: position, offsetSize, lengthSize, superblockVersion: version };
  } catch (err) {
    if (err instanceof Unknown) return undefined;
    throw err;
  }
}

interface Message {
  readonly type: number;
  readonly data: Uint8Array;
}

/** The messages of the object header at `address` (relative to the base), continuation chunks included. */
function headerMessages(file: InputFile, geo: Hdf5Geometry, address: number): Message[] {
  const messages: Message[] = [];
  const first = bytesAt(file, geo.base + address, 16);
  const v2 = first[0] === 0x4f && first[1] === 0x48 && first[2] === 0x44 && first[3] === 0x52; // "OHDR"
  const chunks: { position: number; length: number }[] = [];
  let trackOrder = false;
  if (v2) {
    if (first[4] !== 2) unknown(`object header version ${first[4]}`);
    const flags = first[5]!;
    trackOrder = (flags & 0x04) !== 0;
    let at = 6 + ((flags & 0x20) !== 0 ? 16 : 0) + ((flags & 0x10) !== 0 ? 4 : 0);
    const sizeBytes = 1 << (flags & 0x03);
    const prefix = bytesAt(file, geo.base + address, at + sizeBytes);
    const chunk0 = uint(prefix, at, sizeBytes) ?? unknown('chunk size');
    at += sizeBytes;
    if (chunk0 > maxChunkBytes) unknown('a huge object header');
    const whole = bytesAt(file, geo.base + address, at + chunk0 + 4);
    checkChecksum(whole);
    parseV2(whole.subarray(at, at + chunk0), trackOrder, messages);
  } else {
    if (first[0] !== 1) unknown(`object header version ${first[0]}`);
    const size = new DataView(first.buffer).getUint32(8, true);
    if (size > maxChunkBytes) unknown('a huge object header');
    parseV1(bytesAt(file, geo.base + address + 16, size), messages);
  }
  const seen = new Set<number>();
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.type !== msgContinuation) continue;
    const position = uint(m.data, 0, geo.offsetSize) ?? unknown('a continuation to nowhere');
    const length = uint(m.data, geo.offsetSize, geo.lengthSize) ?? unknown('a continuation of undefined length');
    if (seen.has(position) || seen.size >= maxChunks || length > maxChunkBytes) unknown('a cycle or too many continuation chunks');
    seen.add(position);
    chunks.push({ position, length });
    const block = bytesAt(file, geo.base + position, length);
    if (v2) {
      if (length < 8 || block[0] !== 0x4f || block[1] !== 0x43 || block[2] !== 0x48 || block[3] !== 0x4b) unknown('a continuation chunk without "OCHK"');
      checkChecksum(block);
      parseV2(block.subarray(4, length - 4), trackOrder, messages);
    } else {
      parseV1(block, messages);
    }
  }
  return messages;
}

/** The last 4 bytes are the lookup3 checksum of the rest. */
function checkChecksum(block: Uint8Array): void {
  const n = block.length - 4;
  const stored = new DataView(block.buffer, block.byteOffset, block.byteLength).getUint32(n, true);
  if (lookup3(block.subarray(0, n)) !== stored) unknown('an object header checksum mismatch');
}

function parseV1(chunk: Uint8Array, out: Message[]): void {
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  for (let at = 0; at + 8 <= chunk.length; ) {
    const type = view.getUint16(at, true);
    const size = view.getUint16(at + 2, true);
    if (at + 8 + size > chunk.length) unknown('a message runs past its chunk');
    out.push({ type, data: chunk.subarray(at + 8, at + 8 + size) });
    at += 8 + size;
  }
}

function parseV2(chunk: Uint8Array, trackOrder: boolean, out: Message[]): void {
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  const head = trackOrder ? 6 : 4;
  for (let at = 0; at + head <= chunk.length; ) {
    const type = view.getUint8(at);
    const size = view.getUint16(at + 1, true);
    if (at + head + size > chunk.length) unknown('a message runs past its chunk');
    out.push({ type, data: chunk.subarray(at + head, at + head + size) });
    at += head + size;
  }
}

/**
 * Where the data of the dataset whose object header is at `address` lies: a contiguous range of
 * `expectedBytes` inside the file, or why it is not (chunked, compact, filtered, external, not
 * allocated yet, or not understood). EINVAL-worthy cases (data past the end of the file) are
 * returned as contiguous; the caller checks the range.
 */
export function datasetStorage(file: InputFile, geo: Hdf5Geometry, address: number, expectedBytes: number): Storage {
  try {
    const messages = headerMessages(file, geo, address);
    if (messages.some((m) => m.type === msgFilters)) return { kind: 'other', why: 'filtered' };
    if (messages.some((m) => m.type === msgExternalFiles)) return { kind: 'other', why: 'in external files' };
    const layouts = messages.filter((m) => m.type === msgLayout);
    if (layouts.length !== 1) return { kind: 'other', why: `${layouts.length} layout messages` };
    const d = layouts[0]!.data;
    if (d.length < 2) return { kind: 'other', why: 'a short layout message' };
    const version = d[0]!;
    if (version !== 3 && version !== 4) return { kind: 'other', why: `layout message version ${version}` };
    const layoutClass = d[1]!;
    if (layoutClass !== 1) return { kind: 'other', why: ['compact', 'contiguous', 'chunked', 'virtual'][layoutClass] ?? `layout class ${layoutClass}` };
    const at = uint(d, 2, geo.offsetSize);
    const size = uint(d, 2 + geo.offsetSize, geo.lengthSize);
    if (at === undefined) return { kind: 'other', why: 'not allocated (fill values)' };
    if (size !== expectedBytes) return { kind: 'other', why: `a layout of ${size} bytes for ${expectedBytes} bytes of data` };
    return { kind: 'contiguous', position: geo.base + at, size };
  } catch (err) {
    if (err instanceof Unknown) return { kind: 'other', why: `not understood (${err.message})` };
    throw err;
  }
}

/** Bob Jenkins' lookup3 hashlittle with initval 0, as HDF5's H5_checksum_lookup3. */
export function lookup3(k: Uint8Array): number {
  const rot = (x: number, n: number): number => (x << n) | (x >>> (32 - n));
  const word = (o: number, n = 4): number => {
    let w = 0;
    for (let i = Math.min(n, 4) - 1; i >= 0; i--) w = (w << 8) | k[o + i]!;
    return w;
  };
  let length = k.length;
  let a = (0xdeadbeef + length) | 0;
  let b = a;
  let c = a;
  let o = 0;
  const mix = (): void => {
    a = (a - c) ^ rot(c, 4);
    c = (c + b) | 0;
    b = (b - a) ^ rot(a, 6);
    a = (a + c) | 0;
    c = (c - b) ^ rot(b, 8);
    b = (b + a) | 0;
    a = (a - c) ^ rot(c, 16);
    c = (c + b) | 0;
    b = (b - a) ^ rot(a, 19);
    a = (a + c) | 0;
    c = (c - b) ^ rot(b, 4);
    b = (b + a) | 0;
  };
  while (length > 12) {
    a = (a + word(o)) | 0;
    b = (b + word(o + 4)) | 0;
    c = (c + word(o + 8)) | 0;
    mix();
    length -= 12;
    o += 12;
  }
  if (length === 0) return c >>> 0;
  // The last 1 to 12 bytes, zero-padded.
  a = (a + (length > 0 ? word(o, length) : 0)) | 0;
  b = (b + (length > 4 ? word(o + 4, length - 4) : 0)) | 0;
  c = (c + (length > 8 ? word(o + 8, length - 8) : 0)) | 0;
  c = (c ^ b) - rot(b, 14);
  a = (a ^ c) - rot(c, 11);
  b = (b ^ a) - rot(a, 25);
  c = (c ^ b) - rot(b, 16);
  a = (a ^ c) - rot(c, 4);
  b = (b ^ a) - rot(a, 14);
  c = (c ^ b) - rot(b, 24);
  return c >>> 0;
}
