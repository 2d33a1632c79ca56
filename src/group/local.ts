// LocalNdarray: pyGSTi's LocalNumpyArray, a part of a host array that knows its place in it (the host
// array, the slices into it, the rank that owns the part) and travels by handle: through postMessage,
// child-process IPC, a pool task, JSON, or to Python (python/ndshm.py open_local).

import { NdshmError, invalid, show } from '../errors.js';
import { SharedNDArray } from '../ndarray/array.js';
import type { SharedNDArrayHandle } from '../ndarray/handle.js';
import { sliceIndices } from '../ndarray/layout.js';
import type { ArrayOpenOptions } from '../ndarray/open.js';
import { checkOptions } from '../options.js';

/** One axis of a LocalNdarray's place in its host array, as Python's slice(start, stop, step). */
export interface AxisSlice {
  readonly start: number;
  /** null: past the beginning of the axis (a negative step that runs to index 0). */
  readonly stop: number | null;
  readonly step: number;
}

/** How a slice may be given: '2:10', '::2', ':', null (whole axis), [start, stop], [start, stop, step] or { start, stop, step }. */
export type SliceLike =
  | string
  | null
  | readonly [number | null, number | null]
  | readonly [number | null, number | null, number | null]
  | { readonly start?: number | null; readonly stop?: number | null; readonly step?: number | null };

export interface LocalNdarrayHandle {
  readonly ndshm: 1;
  readonly kind: 'local';
  /** The host array's handle. */
  readonly host: SharedNDArrayHandle;
  /** One [start, stop, step] per axis of the host array (stop null: see AxisSlice). */
  readonly slices: readonly (readonly [number, number | null, number])[];
  readonly ownerRank: number | null;
}

const slicePattern = /^\s*(-?\d+)?\s*:\s*(-?\d+)?\s*(?::\s*(-?\d+)?\s*)?$/;

function parseSlice(s: unknown, axis: number, where: string): { start: number | null; stop: number | null; step: number | null } {
  const int = (v: unknown, what: string): number | null => {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalid(`${where}: slice ${axis}: ${what} must be an integer or null, got ${show(v)}`);
    return v;
  };
  if (s === null) return { start: null, stop: null, step: null };
  if (typeof s === 'string') {
    const m = slicePattern.exec(s);
    if (m === null) throw invalid(`${where}: slice ${axis}: ${show(s)} is not a slice such as "2:10", "::2" or ":"`);
    const n = (t: string | undefined): number | null => (t === undefined ? null : Number(t));
    return { start: n(m[1]), stop: n(m[2]), step: n(m[3]) };
  }
  if (Array.isArray(s)) {
    if (s.length !== 2 && s.length !== 3) throw invalid(`${where}: slice ${axis}: an array slice is [start, stop] or [start, stop, step]`);
    return { start: int(s[0], 'start'), stop: int(s[1], 'stop'), step: int(s[2], 'step') };
  }
  if (typeof s === 'object') {
    for (const k of Object.keys(s)) if (k !== 'start' && k !== 'stop' && k !== 'step') throw invalid(`${where}: slice ${axis}: unknown field "${k}"`);
    const o = s as { start?: unknown; stop?: unknown; step?: unknown };
    return { start: int(o.start, 'start'), stop: int(o.stop, 'stop'), step: int(o.step, 'step') };
  }
  throw invalid(`${where}: slice ${axis} must be a slice ("2:10", [2, 10], { start, stop, step }) or null; a local array keeps every axis, so an integer is not one`);
}

/** Resolved slices, one per axis of `shape`, as Python's slice.indices() gives them. */
function resolve(slices: unknown, shape: readonly number[], where: string): AxisSlice[] {
  if (!Array.isArray(slices)) throw invalid(`${where}: slices must be an array with one slice per axis (fewer: the rest whole), got ${show(slices)}`);
  if (slices.length > shape.length) throw invalid(`${where}: ${slices.length} slices for an array of ${shape.length} axes`);
  return shape.map((length, axis) => {
    const spec = axis < slices.length ? parseSlice(slices[axis], axis, where) : { start: null, stop: null, step: null };
    const { start, step, count } = sliceIndices(spec, length);
    const end = start + count * step;
    return Object.freeze({ start, stop: end < 0 ? null : end, step });
  });
}

let constructing = false;

export class LocalNdarray {
  /** The local part: a view of the host array's memory. */
  readonly array: SharedNDArray;
  /** The whole host array. */
  readonly hostArray: SharedNDArray;
  /** Where `array` sits in `hostArray`, one slice per axis. */
  readonly slicesIntoHostArray: readonly AxisSlice[];
  /** The rank this part belongs to (null: none said). */
  readonly ownerRank: number | null;
  readonly #ownsHost: boolean;

  private constructor(host: SharedNDArray, slices: AxisSlice[], ownerRank: number | null, ownsHost: boolean) {
    if (!constructing) throw invalid('LocalNdarrays are made by LocalNdarray.fromHost, forRank and open, not by new');
    this.hostArray = host;
    this.slicesIntoHostArray = Object.freeze(slices);
    this.ownerRank = ownerRank;
    this.#ownsHost = ownsHost;
    this.array = host.slice(...slices.map((s) => ({ start: s.start, stop: s.stop, step: s.step })));
  }

  static #make(host: SharedNDArray, slices: AxisSlice[], ownerRank: number | null, ownsHost: boolean): LocalNdarray {
    constructing = true;
    try {
      return new LocalNdarray(host, slices, ownerRank, ownsHost);
    } finally {
      constructing = false;
    }
  }

  /** The part of `hostArray` that `slices` select (one per axis; fewer: the rest whole). */
  static fromHost(hostArray: SharedNDArray, slices: readonly SliceLike[], options?: { ownerRank?: number | null }): LocalNdarray {
    const where = 'LocalNdarray.fromHost';
    if (!(hostArray instanceof SharedNDArray)) throw invalid(`${where}: hostArray must be a SharedNDArray, got ${show(hostArray)}`);
    const opts = checkOptions(options, ['ownerRank'], where);
    const owner = opts.ownerRank ?? null;
    if (owner !== null && (typeof owner !== 'number' || !Number.isSafeInteger(owner) || owner < 0)) {
      throw invalid(`${where}: ownerRank must be a non-negative integer or null, got ${show(owner)}`);
    }
    if (hostArray.released) throw new NdshmError('ECLOSED', `${where}: the host array is released`);
    return LocalNdarray.#make(hostArray, resolve(slices, hostArray.shape, where), owner, false);
  }

  /**
   * Rank `rank`'s block of `hostArray` when it is split among `size` members along `axis` (default
   * 0) as numpy.array_split does: the first (length % size) blocks have one more element.
   */
  static forRank(hostArray: SharedNDArray, rank: number, size: number, options?: { axis?: number }): LocalNdarray {
    const where = 'LocalNdarray.forRank';
    if (!(hostArray instanceof SharedNDArray)) throw invalid(`${where}: hostArray must be a SharedNDArray, got ${show(hostArray)}`);
    const opts = checkOptions(options, ['axis'], where);
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1) throw invalid(`${where}: size must be a positive integer, got ${show(size)}`);
    if (typeof rank !== 'number' || !Number.isSafeInteger(rank) || rank < 0 || rank >= size) throw invalid(`${where}: rank must be an integer from 0 to ${size - 1}, got ${show(rank)}`);
    const axis = opts.axis ?? 0;
    if (typeof axis !== 'number' || !Number.isSafeInteger(axis) || axis < 0 || axis >= hostArray.ndim) {
      throw invalid(`${where}: axis must be an integer from 0 to ${hostArray.ndim - 1}, got ${show(axis)}`);
    }
    if (hostArray.released) throw new NdshmError('ECLOSED', `${where}: the host array is released`);
    const n = hostArray.shape[axis]!;
    const base = Math.floor(n / size);
    const extra = n % size;
    const start = rank * base + Math.min(rank, extra);
    const stop = start + base + (rank < extra ? 1 : 0);
    const slices: SliceLike[] = hostArray.shape.map((_, a) => (a === axis ? [start, stop] : null));
    return LocalNdarray.#make(hostArray, resolve(slices, hostArray.shape, where), rank, false);
  }

  /** Opens the host array a handle names and takes its part (release() ends that mapping). */
  static open(handle: LocalNdarrayHandle, options?: ArrayOpenOptions): LocalNdarray {
    const where = 'LocalNdarray.open';
    if (!LocalNdarray.isHandle(handle)) throw invalid(`${where}: not a LocalNdarray handle (expected { ndshm: 1, kind: 'local', host, slices, ownerRank })`);
    const h = handle as unknown as Record<string, unknown>;
    const owner = h['ownerRank'];
    if (owner !== null && (typeof owner !== 'number' || !Number.isSafeInteger(owner) || owner < 0)) throw invalid(`${where}: handle.ownerRank must be a non-negative integer or null`);
    const slices = h['slices'];
    if (!Array.isArray(slices) || slices.length > 32 || !slices.every((s) => Array.isArray(s) && s.length === 3)) {
      throw invalid(`${where}: handle.slices must be an array of [start, stop, step]`);
    }
    const host = SharedNDArray.open(h['host'] as SharedNDArrayHandle, options);
    try {
      if (slices.length !== host.ndim) throw invalid(`${where}: handle.slices has ${slices.length} slices for a host array of ${host.ndim} axes`);
      const resolved = resolve(slices, host.shape, where);
      // A handle's slices are already resolved: they must come back unchanged.
      resolved.forEach((r, axis) => {
        const [start, stop, step] = slices[axis] as unknown[];
        if (r.start !== start || r.stop !== stop || r.step !== step) throw invalid(`${where}: handle.slices[${axis}] is not a resolved slice of an axis of length ${host.shape[axis]}`);
      });
      return LocalNdarray.#make(host, resolved, owner as number | null, true);
    } catch (err) {
      host.release();
      throw err;
    }
  }

  static isHandle(value: unknown): value is LocalNdarrayHandle {
    return typeof value === 'object' && value !== null && (value as { ndshm?: unknown }).ndshm === 1 && (value as { kind?: unknown }).kind === 'local';
  }

  /** A small JSON-safe object that LocalNdarray.open (and python/ndshm.py's open_local) turn back into this part. */
  get handle(): LocalNdarrayHandle {
    return {
      ndshm: 1,
      kind: 'local',
      host: this.hostArray.handle,
      slices: this.slicesIntoHostArray.map((s) => [s.start, s.stop, s.step] as const),
      ownerRank: this.ownerRank,
    };
  }

  get released(): boolean {
    return this.hostArray.released;
  }

  /** Ends the mapping LocalNdarray.open made; a part made from a host array you hold leaves it alone. */
  release(): void {
    if (this.#ownsHost) this.hostArray.release();
  }

  [Symbol.dispose](): void {
    this.release();
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    const where = this.slicesIntoHostArray.map((s) => `${s.start}:${s.stop ?? ''}${s.step === 1 ? '' : `:${s.step}`}`).join(', ');
    return `LocalNdarray([${where}] of ${this.hostArray.name === undefined ? 'a private array' : `"${this.hostArray.name}"`}${this.ownerRank === null ? '' : `, rank ${this.ownerRank}`})`;
  }
}
