// tritonclient.utils.shared_memory in camelCase: named raw regions (no header: their bytes are
// exactly what the caller put there), filled with arrays at byte offsets and read back as views.

import { type HasContiguousBytes, contiguousBytes, hasContiguousBytes } from '../contiguous.js';
import { type DTypeLike, type TypedArray, byteSwappedCopy, dtype as toDType, isTypedArray } from '../dtype.js';
import { invalid, isNdshmError, NdshmError, show } from '../errors.js';
import { checkBoolean, checkOptions, checkSize, formatBytes } from '../options.js';
import { validateName } from '../segment/names.js';
import { Segment } from '../segment/segment.js';
import { checkShape, elementCount } from '../shape.js';
import { type BytesTensor, deserialize, flattenBytes, serializeInto, serializedLength } from './bytes.js';

/** The error every region function throws; a subclass of NdshmError with the same codes. */
export class SharedMemoryException extends NdshmError {}


export type RegionValue = TypedArray | DataView | BytesTensor | HasContiguousBytes;

export interface CreateRegionOptions {
  /** Fail with EEXIST if the key exists, instead of reusing it. Default false. */
  createOnly?: boolean;
  /** Permission bits of a region this call creates. Default 0o600. */
  mode?: number;
  /** Keep a region this call creates after this process ends. Default false. */
  persistent?: boolean;
  /**
   * Reuse an existing region that another user owns. Default false: EACCES, because the caller's
   * data would then be readable (and writable) by that user. tritonclient attaches to any region.
   */
  allowOtherUsers?: boolean;
}

interface Holder {
  count: number;
  createdHere: boolean;
  key: string;
}
const holders = new Map<string, Holder>();

interface RegionState {
  readonly segmentName: string;
  segment: Segment | undefined;
}

// A region's segment is this module's alone: users see the Triton fields, nothing to misuse.
const states = new WeakMap<SharedMemoryRegion, RegionState>();
const token = Symbol('SharedMemoryRegion');

export class SharedMemoryRegion {
  /** The name the caller registers with the Triton server. */
  readonly tritonShmName: string;
  /** The key as the caller wrote it ("/input_simple" or "input_simple"). */
  readonly shmKey: string;
  /** The usable size: the size asked for, even when a larger region was reused. */
  readonly byteSize: number;

  /** Regions come from createSharedMemoryRegion (EINVAL otherwise). */
  constructor(...args: never[]);
  constructor(...args: unknown[]) {
    const [key, tritonShmName, shmKey, byteSize, state] = args as [symbol, string, string, number, RegionState];
    if (key !== token) throw new SharedMemoryException('EINVAL', 'regions are made by createSharedMemoryRegion(), not by new SharedMemoryRegion()');
    this.tritonShmName = tritonShmName;
    this.shmKey = shmKey;
    this.byteSize = byteSize;
    states.set(this, state);
  }

  get closed(): boolean {
    return states.get(this)?.segment === undefined;
  }

  [Symbol.dispose](): void {
    destroySharedMemoryRegion(this);
  }
}

/** The key of a region for messages (anything else the caller passed is not trusted to print). */
const keyOf = (region: unknown): string => (region instanceof SharedMemoryRegion && states.has(region) ? region.shmKey : '?');

function stateOf(region: unknown): RegionState {
  const state = region instanceof SharedMemoryRegion ? states.get(region) : undefined;
  if (state === undefined) throw invalid('region must be a SharedMemoryRegion that createSharedMemoryRegion returned');
  return state;
}

/** The open segment; ECLOSED after destroy, ETRUNCATED if it shrank under us. */
function checkedSegment(region: SharedMemoryRegion): Segment {
  const state = stateOf(region);
  const segment = state.segment;
  if (segment === undefined) {
    throw new SharedMemoryException('ECLOSED', `shared memory region "${region.shmKey}" was destroyed`, { segment: state.segmentName });
  }
  segment.check();
  return segment;
}

function rethrow(err: unknown, what: string): never {
  if (err instanceof SharedMemoryException) throw err;
  if (isNdshmError(err)) {
    throw new SharedMemoryException(err.code, `${what}: ${err.message}`, {
      cause: err,
      syscall: err.syscall,
      segment: err.segment,
      errno: err.errno,
    });
  }
  throw new SharedMemoryException('ESYSTEM', `${what}: ${show(err)}`, { cause: err });
}

function segmentNameOf(shmKey: unknown): string {
  if (typeof shmKey !== 'string') throw invalid(`shmKey must be a string, got ${typeof shmKey}`);
  // Triton users write keys with a leading slash ("/input_simple"); the object is named without it.
  return validateName(shmKey.startsWith('/') ? shmKey.slice(1) : shmKey, 'shared memory key');
}

function attachOrCreate(name: string, byteSize: number, opts: CreateRegionOptions): { segment: Segment; created: boolean } {
  const createOptions = { mode: opts.mode, persistent: opts.persistent };
  const allowOtherUsers = checkBoolean(opts.allowOtherUsers, 'allowOtherUsers', false);
  if (checkBoolean(opts.createOnly, 'createOnly', false)) {
    return { segment: Segment.create(name, byteSize, createOptions), created: true };
  }
  // Another process may create or remove the key between our attempts; a few rounds settle it.
  for (let attempt = 0; ; attempt++) {
    try {
      const segment = Segment.open(name, { allowOtherUsers });
      if (segment.byteLength < byteSize) {
        segment.close();
        throw new NdshmError(
          'ERANGE',
          `the existing region "${name}" has ${formatBytes(segment.byteLength)}, fewer than the ${formatBytes(byteSize)} requested`,
          { segment: name },
        );
      }
      return { segment, created: false };
    } catch (err) {
      if (!isNdshmError(err, 'ENOENT') || attempt >= 3) throw err;
    }
    try {
      return { segment: Segment.create(name, byteSize, createOptions), created: true };
    } catch (err) {
      if (!isNdshmError(err, 'EEXIST')) throw err;
    }
  }
}

/**
 * Creates the region `shmKey` of `byteSize` bytes, or attaches to an existing one that is at least
 * that large (unless `createOnly`). A region this process created is removed when the last of its
 * handles here is destroyed, or when this process ends; a process that only attached never removes it.
 */
export function createSharedMemoryRegion(
  tritonShmName: string,
  shmKey: string,
  byteSize: number,
  options?: CreateRegionOptions,
): SharedMemoryRegion {
  try {
    const opts = checkOptions(options, ['createOnly', 'mode', 'persistent', 'allowOtherUsers'], 'createSharedMemoryRegion');
    if (typeof tritonShmName !== 'string' || tritonShmName.length === 0) {
      throw invalid(`tritonShmName must be a non-empty string, got ${show(tritonShmName)}`);
    }
    const name = segmentNameOf(shmKey);
    const size = checkSize(byteSize, 'byteSize');
    const { segment, created } = attachOrCreate(name, size, opts);
    const holder = holders.get(name) ?? { count: 0, createdHere: false, key: shmKey };
    holder.count++;
    holder.createdHere ||= created;
    holders.set(name, holder);
    return new (SharedMemoryRegion as unknown as new (...a: unknown[]) => SharedMemoryRegion)(token, tritonShmName, shmKey, size, { segmentName: name, segment });
  } catch (err) {
    rethrow(err, `unable to create the shared memory region ${typeof shmKey === 'string' ? JSON.stringify(shmKey) : '?'}`);
  }
}

function bytesOf(value: RegionValue, i: number): { length: number; write(target: Uint8Array): void } {
  if (isTypedArray(value) || value instanceof DataView) {
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    return { length: bytes.byteLength, write: (t) => t.set(bytes) };
  }
  if (Array.isArray(value)) {
    const elements = flattenBytes(value as BytesTensor, `values[${i}]`);
    return { length: serializedLength(elements), write: (t) => serializeInto(elements, t) };
  }
  if (hasContiguousBytes(value)) {
    const bytes = value[contiguousBytes]();
    return { length: bytes.byteLength, write: (t) => t.set(bytes) };
  }
  throw invalid(`values[${i}] must be a typed array, a SharedNDArray or a BYTES tensor (an array of strings or Uint8Arrays)`);
}

/**
 * Copies the values into the region one after another, starting at byte `offset`. Nothing is
 * written unless all of them fit.
 */
export function setSharedMemoryRegion(region: SharedMemoryRegion, values: readonly RegionValue[], offset = 0): void {
  try {
    const { segmentName } = stateOf(region);
    if (!Array.isArray(values)) throw invalid('values must be an array of arrays (as in Triton: a list of tensors)');
    const start = checkSize(offset, 'offset');
    const parts = values.map((v, i) => bytesOf(v, i));
    const total = parts.reduce((n, p) => n + p.length, 0);
    if (start + total > region.byteSize) {
      throw new NdshmError(
        'ERANGE',
        `${formatBytes(total)} at offset ${start} do not fit the region's ${formatBytes(region.byteSize)}`,
        { segment: segmentName },
      );
    }
    const target = new Uint8Array(checkedSegment(region).buffer, start, total);
    let at = 0;
    for (const p of parts) {
      p.write(target.subarray(at, at + p.length));
      at += p.length;
    }
  } catch (err) {
    rethrow(err, `unable to set the shared memory region "${keyOf(region)}"`);
  }
}

const bytesNames = new Set(['BYTES', 'bytes', 'object', 'O', 'object_']);

function countOf(shape: unknown, itemsize: number): number {
  return elementCount(checkShape(shape, 'shape', itemsize));
}

/**
 * The region's contents at byte `offset` as `dtype` and `shape`: a zero-copy typed array for numeric
 * dtypes (a converted copy for a non-native byte order), the decoded elements (copies) for BYTES.
 */
export function getContentsAsArray(
  region: SharedMemoryRegion,
  dtype: DTypeLike | 'BYTES',
  shape: readonly number[] | number,
  offset = 0,
): TypedArray | Uint8Array[] {
  try {
    const { segmentName } = stateOf(region);
    const start = checkSize(offset, 'offset');
    if (start > region.byteSize) throw new NdshmError('ERANGE', `offset ${start} is past the region's end (${region.byteSize})`);
    if (typeof dtype === 'string' && bytesNames.has(dtype)) {
      const count = countOf(shape, 4); // every element has at least its 4-byte length
      const bytes = new Uint8Array(checkedSegment(region).buffer, start, region.byteSize - start);
      return deserialize(bytes, count, `region "${region.shmKey}"`);
    }
    const dt = toDType(dtype);
    const count = countOf(shape, dt.itemsize);
    const nbytes = count * dt.itemsize;
    if (start + nbytes > region.byteSize) {
      throw new NdshmError(
        'ERANGE',
        `${count} ${dt.name} elements (${formatBytes(nbytes)}) at offset ${start} run past the region's end (${formatBytes(region.byteSize)})`,
        { segment: segmentName },
      );
    }
    const buffer = checkedSegment(region).buffer;
    const Array_ = dt.arrayType;
    if (!dt.native) return byteSwappedCopy(new Uint8Array(buffer, start, nbytes), dt.itemsize / dt.lanes, Array_);
    if (start % Array_.BYTES_PER_ELEMENT !== 0) {
      throw invalid(`offset ${start} is not a multiple of ${Array_.BYTES_PER_ELEMENT}: a ${dt.name} view needs aligned bytes`);
    }
    return new Array_(buffer, start, count * dt.lanes);
  } catch (err) {
    rethrow(err, `unable to get the contents of the shared memory region "${keyOf(region)}"`);
  }
}

/** The keys of the regions this process holds open. */
export function mappedSharedMemoryRegions(): string[] {
  return [...holders.values()].filter((h) => h.count > 0).map((h) => h.key);
}

/**
 * Closes this handle. When it was the last handle of the process that created the region, the
 * region is removed too. Destroying a handle twice does nothing.
 */
export function destroySharedMemoryRegion(region: SharedMemoryRegion): void {
  try {
    const state = stateOf(region);
    const segment = state.segment;
    if (segment === undefined) return;
    state.segment = undefined;
    segment.close();
    const holder = holders.get(state.segmentName);
    if (holder === undefined) return;
    if (--holder.count > 0) return;
    holders.delete(state.segmentName);
    if (holder.createdHere) {
      try {
        segment.unlink();
      } catch (err) {
        if (!isNdshmError(err, 'ENOENT')) throw err; // already removed by someone else
      }
    }
  } catch (err) {
    rethrow(err, `unable to destroy the shared memory region "${keyOf(region)}"`);
  }
}
