// The memory under one or more SharedNDArrays: a shared segment with an ndshm header (or, for the
// local copies that index arrays make, a plain ArrayBuffer), and who is responsible for removing it.

import { randomBytes } from 'node:crypto';

import { type DType, type TypedArray, dtype as toDType } from '../dtype.js';
import { closedError, isNdshmError, NdshmError, show } from '../errors.js';
import * as header from '../segment/header.js';
import * as lifetime from '../segment/lifetime.js';
import { envTag, self } from '../segment/owner.js';
import { Segment, openForeignSegment } from '../segment/segment.js';
import { checkShape, elementCount } from '../shape.js';

/**
 * As in jztools: 'local' arrays are removed when their owner releases them or ends; 'remote' arrays
 * pass to the first process that opens their handle; null arrays are removed only by release().
 */
export type Scope = 'local' | 'remote' | null;

export interface BaseLayout {
  readonly shape: readonly number[];
  readonly strides: readonly number[]; // elements
}

export class Block {
  /** The segment name, or undefined for local (unshared) memory. */
  readonly name: string | undefined;
  readonly dtype: DType;
  readonly dataOffset: number;
  readonly dataLength: number;
  readonly readOnly: boolean;
  readonly base: BaseLayout;
  readonly arrayId: bigint;
  /** The segment holds the parts of several arrays, each viewed with its own dtype (a store's pack). */
  readonly pack: boolean;
  /** A segment without an ndshm header (made by another tool, e.g. cute-shm): its bytes from 0. */
  readonly raw: boolean;
  /** This thread removes the segment when it releases it (and, unless scope is null, when it ends). */
  owned: boolean;
  scope: Scope;
  /** For a 'remote' array this thread created: the adoption offer its handles carry (0n otherwise). */
  offer: bigint;
  readonly #segment: Segment | undefined;
  #local: ArrayBuffer | undefined;
  readonly #elements = new Map<string, TypedArray>();
  #bytes: DataView | undefined;
  #released = false;
  readonly #onRelease = new Set<() => void>();

  constructor(init: {
    name?: string;
    segment?: Segment;
    local?: ArrayBuffer;
    dtype: DType;
    dataOffset: number;
    dataLength: number;
    base: BaseLayout;
    readOnly: boolean;
    owned: boolean;
    scope: Scope;
    arrayId: bigint;
    offer?: bigint;
    pack?: boolean;
    raw?: boolean;
  }) {
    this.name = init.name;
    this.#segment = init.segment;
    this.#local = init.local;
    this.dtype = init.dtype;
    this.dataOffset = init.dataOffset;
    this.dataLength = init.dataLength;
    this.base = init.base;
    this.readOnly = init.readOnly;
    this.owned = init.owned;
    this.scope = init.scope;
    this.arrayId = init.arrayId;
    this.offer = init.offer ?? 0n;
    this.pack = init.pack ?? false;
    this.raw = init.raw ?? false;
  }

  get released(): boolean {
    return this.#released;
  }

  /** The bytes; ECLOSED after release, and a segment's own fault checks (ETRUNCATED, EIO). */
  get buffer(): ArrayBuffer {
    if (this.#released) throw closedError('array', this.name ?? '(local)');
    return this.#segment !== undefined ? this.#segment.buffer : this.#local!;
  }

  /** Bulk access: also compares the segment's current size with the mapping. */
  check(): void {
    if (this.#released) throw closedError('array', this.name ?? '(local)');
    this.#segment?.check();
  }

  /** A typed array of `dt` over the whole data region (valid until release). */
  elementsOf(dt: DType): TypedArray {
    const buffer = this.buffer;
    let elements = this.#elements.get(dt.typestr);
    if (elements === undefined) {
      elements = new dt.arrayType(buffer, this.dataOffset, Math.floor(this.dataLength / dt.itemsize) * dt.lanes);
      this.#elements.set(dt.typestr, elements);
    }
    return elements;
  }

  get bytes(): DataView {
    const buffer = this.buffer;
    this.#bytes ??= new DataView(buffer, this.dataOffset, this.dataLength);
    return this.#bytes;
  }

  onRelease(fn: () => void): void {
    this.#onRelease.add(fn);
  }

  /**
   * Ends this thread's use of the memory (every view of it here becomes unusable) and removes the
   * segment when this thread owns it. A 'remote' array is left for the process that adopts it
   * (or, if none does, for the watchdog after this thread ends); `force` removes it anyway, unless
   * another process has adopted it already. It never fails for want of a watchdog, and an owned
   * segment is always removed.
   */
  release(force = false): void {
    if (this.#released) return;
    const segment = this.#segment;
    const unlink = segment !== undefined && this.owned && (force || this.scope !== 'remote') && this.#stillOurs(segment);
    this.#released = true;
    for (const fn of this.#onRelease) fn();
    this.#elements.clear();
    this.#bytes = undefined;
    this.#local = undefined;
    if (segment === undefined) return;
    const name = segment.name;
    try {
      segment.close();
    } finally {
      if (unlink) lifetime.removeOwned(name, { ino: segment.inode });
      else if (this.owned && this.scope === 'remote' && force) lifetime.disown(name); // adopted meanwhile
    }
  }

  /**
   * This thread may still remove the segment: nobody adopted it (a 'remote' array's offer is
   * withdrawn here first, so nobody can from now on) and the header still names this thread.
   */
  #stillOurs(segment: Segment): boolean {
    if (this.raw) return true;
    if (segment.closed || segment.byteLength < header.fixedLength || segment.readOnly) return false;
    let buffer: ArrayBuffer;
    try {
      buffer = segment.buffer;
    } catch {
      // A fault was caught in the mapping (another process truncated the segment): its header cannot
      // be read. A 'remote' array may have been adopted, so it is left; anything else this thread
      // made is still its own (removal checks the inode besides).
      return this.scope !== 'remote';
    }
    return lifetime.withdraw(buffer, this.offer) && lifetime.ownedPerHeader(buffer);
  }
}

function randomName(): string {
  return `nd-${randomBytes(9).toString('base64url')}`;
}

const randomId = (): bigint => randomBytes(8).readBigUInt64LE() || 1n;

/** Creates the segment, writes and publishes its header. */
export function createBlock(
  dt: DType,
  shape: readonly number[],
  strides: readonly number[],
  options: { name: string | undefined; scope: Scope; mode: number | undefined; flags?: number },
): Block {
  const ndim = shape.length;
  const dataOffset = header.dataOffsetFor(ndim);
  const dataLength = elementCount(shape) * dt.itemsize;
  const persistent = options.scope === null;
  let segment: Segment | undefined;
  let name = options.name;
  for (let attempt = 0; segment === undefined; attempt++) {
    name = options.name ?? randomName();
    try {
      segment = Segment.create(name, dataOffset + dataLength, { mode: options.mode, persistent });
    } catch (err) {
      if (options.name !== undefined || attempt > 3 || !isNdshmError(err, 'EEXIST')) throw err;
    }
  }
  const arrayId = randomId();
  const offer = options.scope === 'remote' ? lifetime.newOffer() : 0n;
  try {
    const bytes = new Uint8Array(segment.buffer, 0, dataOffset);
    header.writeHeader(bytes, {
      typestr: dt.typestr,
      shape,
      strides: strides.map((s) => s * dt.itemsize),
      dataOffset,
      dataLength,
      persistent,
      flags: options.flags ?? 0,
      ownerPid: self.pid,
      ownerStart: self.startTime,
      ownerTag: envTag,
      created: Date.now(),
      arrayId,
      offer,
    });
    header.publish(segment.buffer);
    if (options.scope === 'remote') lifetime.markRemote(segment.name);
  } catch (err) {
    segment.close();
    lifetime.removeOwned(segment.name, { ino: segment.inode });
    throw err;
  }
  return new Block({
    name,
    segment,
    dtype: dt,
    dataOffset,
    dataLength,
    base: { shape, strides },
    readOnly: false,
    owned: true,
    scope: options.scope,
    arrayId,
    offer,
    pack: ((options.flags ?? 0) & header.flagPack) !== 0,
  });
}

function bad(name: string, why: string): NdshmError {
  return new NdshmError('EBADHEADER', `segment "${name}" has a bad ndshm header: ${why}`, { segment: name });
}

export interface OpenBlockOptions {
  readOnly: boolean;
  allowOtherUsers?: boolean;
}

/** An array header read from `buffer` (`size` bytes, the object's real size) and checked. */
export interface CheckedHeader {
  readonly header: header.Header;
  readonly dtype: DType;
  /** The base array's strides in elements. */
  readonly strides: number[];
}

/** Reads and checks an array's header: layout (header.ts), then dtype and strides. Pure: bytes in. */
export function checkHeader(buffer: ArrayBuffer, size: number, name: string): CheckedHeader {
  const h = header.readHeader(new Uint8Array(buffer, 0, Math.min(size, header.headerLength(header.maxDims))), size, name);
  let dt: DType | undefined;
  try {
    dt = toDType(h.typestr);
  } catch {
    dt = undefined;
  }
  // Exactly the typestrs docs/format.md lists ("<f8", "|b1", ...), not other spellings toDType knows.
  if (dt === undefined || dt.typestr !== h.typestr) throw bad(name, `unsupported typestr ${show(h.typestr)}`);
  if (h.dataLength % dt.itemsize !== 0) throw bad(name, `data length ${h.dataLength} is not a multiple of ${dt.itemsize}`);
  try {
    checkShape(h.shape, 'shape', dt.itemsize); // the count, and the count in bytes, are safe integers
  } catch {
    throw bad(name, `shape ${show(h.shape)} has too many elements`);
  }
  if (elementCount(h.shape) * dt.itemsize > h.dataLength) throw bad(name, `shape ${show(h.shape)} holds more than its ${h.dataLength} bytes of data`);
  const itemsize = dt.itemsize;
  const strides = h.strides.map((s, i) => {
    if (s % itemsize !== 0) throw bad(name, `strides[${i}] ${s} is not a multiple of the item size ${itemsize}`);
    return s / itemsize;
  });
  return { header: h, dtype: dt, strides };
}

/** The block over memory whose header `checked` describes: a segment's, or local memory. */
export function blockOf(name: string | undefined, memory: { segment: Segment } | { local: ArrayBuffer }, checked: CheckedHeader, readOnly: boolean): Block {
  const h = checked.header;
  return new Block({
    name,
    segment: 'segment' in memory ? memory.segment : undefined,
    local: 'local' in memory ? memory.local : undefined,
    dtype: checked.dtype,
    dataOffset: h.dataOffset,
    dataLength: h.dataLength,
    base: { shape: h.shape, strides: checked.strides },
    readOnly,
    owned: false,
    scope: h.persistent ? null : 'local',
    arrayId: h.arrayId,
    pack: ((h.flags ?? 0) & header.flagPack) !== 0,
  });
}

/** Maps a segment and checks its header; the array layer checks the views it makes. */
export function openBlock(name: string, options: OpenBlockOptions): { block: Block; header: header.Header; segment: Segment } {
  const segment = Segment.open(name, { readOnly: options.readOnly, allowOtherUsers: options.allowOtherUsers ?? false });
  try {
    const checked = checkHeader(segment.buffer, segment.byteLength, name);
    return { block: blockOf(name, { segment }, checked, options.readOnly), header: checked.header, segment };
  } catch (err) {
    segment.close();
    throw err;
  }
}

/**
 * Takes ownership of a 'remote' array whose creator offered it under `offer` and that nobody took
 * yet (lifetime.adopt): the first process to open such a handle wins, and the creator's cleanup
 * then leaves the array alone. A forged offer, or any array that was not offered, stays unowned.
 */
export function adopt(block: Block, segment: Segment, offer: bigint): boolean {
  if (block.readOnly || !lifetime.adopt(segment.buffer, segment.name, segment.inode, offer)) return false;
  block.owned = true;
  block.scope = 'local';
  return true;
}

/**
 * Inside ndshm (pools): an owned 'local' array becomes a 'remote' one, offered once for adoption, so
 * that the process that opens its handle next takes it over (a pool worker's result, handed to the
 * caller). The offer word goes into the header with a compare-and-swap from 0; false (and nothing
 * changed) for an array this thread does not own, a persistent or store array, a read-only or
 * released one, or one already offered.
 */
export function offerBlock(block: Block): boolean {
  if (!block.owned || block.scope !== 'local' || block.raw || block.readOnly || block.name === undefined || block.released) return false;
  const buffer = block.buffer;
  if (buffer.byteLength < header.fixedLength) return false;
  const flags = new DataView(buffer, 0, header.fixedLength).getUint32(header.offsets.flags, true);
  if ((flags & (header.flagPersistent | header.flagStoreData)) !== 0) return false;
  const offer = lifetime.newOffer();
  const words = new BigUint64Array(buffer, 0, header.fixedLength / 8);
  if (Atomics.compareExchange(words, header.offsets.offer / 8, 0n, offer) !== 0n) return false;
  lifetime.markRemote(block.name);
  block.scope = 'remote';
  block.offer = offer;
  return true;
}

/**
 * Maps a segment without an ndshm header (cute-shm's, for one): its bytes from offset 0 are `count`
 * elements of `dt`, as the caller says; the segment must be at least that large.
 */
export function openRawBlock(name: string, dt: DType, count: number, options: OpenBlockOptions): Block {
  const segment = openForeignSegment(name, options.readOnly, options.allowOtherUsers ?? false);
  const dataLength = count * dt.itemsize;
  if (segment.byteLength < dataLength) {
    segment.close();
    throw new NdshmError('EBADHEADER', `segment "${name}" has ${segment.byteLength} bytes, fewer than the ${dataLength} its description needs`, {
      segment: name,
    });
  }
  return new Block({
    name,
    segment,
    dtype: dt,
    dataOffset: 0,
    dataLength,
    base: { shape: [count], strides: [1] },
    readOnly: options.readOnly,
    owned: false,
    scope: null,
    arrayId: 0n,
    raw: true,
  });
}
