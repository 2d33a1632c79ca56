// cute-shm's API for named stores of nested arrays, in camelCase: arraysToShm, shmToArrays, unlink,
// listStores, and the scoped unlinkedArraysToShm.

import { type DType, type TypedArray, dtype as toDType, isTypedArray } from '../dtype.js';
import { invalid, NdshmError, show } from '../errors.js';
import { checkBoolean, checkOptions } from '../options.js';
import { SharedNDArray, copyArrayInto, fillArrayFrom } from '../ndarray/array.js';
import { describeSource } from '../ndarray/create.js';
import { inspectSegment, listShm, shmPath } from '../segment/shm-files.js';
import { elementCount } from '../shape.js';
import { type AttrValue, type Attrs, decodeAttrs } from './attrs.js';
import { StoreBuilder, type StoreSummary, type StoreWriteOptions, checkKey } from './builder.js';
import { defaultCuteShmRoot, listCuteShm, readCuteShm, removeCuteShm, writeCuteShm } from './cute-shm.js';
import { type Manifest, forEachLeaf } from './manifest.js';
import { manifestName, manifestPrefix, validateStoreName } from './names.js';
import { readManifest, removeStore } from './published.js';
import { type StoreReadOptions, type StoreTree, readNdshmStore } from './read.js';

export type StoreFormat = 'ndshm' | 'cute-shm';

export interface ArraysToShmOptions extends StoreWriteOptions {
  /** 'ndshm' (default) or 'cute-shm' (readable by Python's cute_shm.shm_to_arrays). */
  format?: StoreFormat;
  /** cute-shm's manifest folder. Default /tmp/cute-shm, as cute-shm has it. */
  cuteShmRoot?: string;
}

export interface ShmToArraysOptions extends StoreReadOptions {
  /** Which format to look for; by default an ndshm store, then a cute-shm one. */
  format?: StoreFormat;
  cuteShmRoot?: string;
}

export interface WrittenStore extends StoreSummary {
  readonly format: StoreFormat;
  /** For cute-shm: the TOML manifest's path. */
  readonly toml?: string;
}

interface InputLeaf {
  path: string[];
  value: unknown;
  attrs: Attrs | undefined;
  shape: number[];
  dtype: DType;
}

const leafKeys = new Set(['data', 'meta', 'attrs']);

function isArrayValue(v: unknown): boolean {
  if (v instanceof SharedNDArray || isTypedArray(v) || Array.isArray(v)) return true;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return true;
  const o = v as { shape?: unknown; stride?: unknown; data?: unknown };
  return typeof o === 'object' && o !== null && Array.isArray(o.shape) && Array.isArray(o.stride) && o.data !== undefined;
}

/** A leaf written as { data, attrs } or as shmToArrays returns it, { data, meta: { attrs } }. */
function leafObject(v: unknown): { data: unknown; attrs: Attrs | undefined } | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || !('data' in v)) return undefined;
  if (!Object.keys(v).every((k) => leafKeys.has(k)) || !isArrayValue((v as { data: unknown }).data)) return undefined;
  const o = v as { data: unknown; attrs?: Attrs; meta?: { attrs?: Attrs } };
  return { data: o.data, attrs: o.attrs ?? o.meta?.attrs };
}

function collect(value: unknown, path: string[], out: InputLeaf[]): void {
  const leaf = isArrayValue(value) ? { data: value, attrs: undefined } : leafObject(value);
  if (leaf !== undefined) {
    if (path.length === 0) throw invalid('arrays must be an object of named arrays (and groups), not a single array');
    const src = leaf.data;
    const { shape, dtype } = src instanceof SharedNDArray ? { shape: [...src.shape], dtype: src.dtype } : describeSource(src, undefined, undefined);
    out.push({ path, value: src, attrs: leaf.attrs, shape, dtype });
    return;
  }
  const proto = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    throw invalid(`${path.join('/') || 'arrays'}: expected an array or an object of arrays, got ${value === null ? 'null' : typeof value}`);
  }
  for (const [key, child] of Object.entries(value as object)) collect(child, [...path, checkKey(key, path)], out);
}

function fill(target: SharedNDArray, leaf: InputLeaf): void {
  const v = leaf.value;
  if (v instanceof SharedNDArray) {
    copyArrayInto(v, target);
  } else if (isTypedArray(v) && leaf.dtype.native && Object.getPrototypeOf(v).constructor === leaf.dtype.arrayType) {
    const src = v as TypedArray;
    (target.data as TypedArray).set(src as never);
  } else {
    fillArrayFrom(target, describeSource(v, leaf.dtype.typestr, leaf.shape).values());
  }
}

/**
 * Puts a nested object of arrays into shared memory as the store `name`. Readers see either no store
 * or all of it; an existing store is EEXIST (and left untouched) unless `overwrite`.
 */
export function arraysToShm(name: string, arrays: object, options?: ArraysToShmOptions): WrittenStore {
  const opts = checkOptions(options, ['persistent', 'overwrite', 'attrs', 'mode', 'format', 'cuteShmRoot'], 'arraysToShm');
  const format = opts.format ?? 'ndshm';
  const persistent = checkBoolean(opts.persistent, 'persistent', false);
  const overwrite = checkBoolean(opts.overwrite, 'overwrite', false);
  const leaves: InputLeaf[] = [];
  collect(arrays, [], leaves);
  if (format === 'cute-shm') {
    validateStoreName(name);
    if (opts.attrs !== undefined) throw invalid('arraysToShm: a cute-shm store has no attributes of its own (give each array its attrs instead)');
    const root = opts.cuteShmRoot ?? defaultCuteShmRoot;
    const toml = writeCuteShm(
      name,
      leaves.map((l) => ({ path: l.path, shape: l.shape, dtype: l.dtype, attrs: l.attrs as Record<string, AttrValue>, fill: (t) => fill(t, l) })),
      { root, overwrite, persistent, mode: opts.mode },
    );
    const bytes = leaves.reduce((n, l) => n + elementCount(l.shape) * l.dtype.itemsize, 0);
    return { name, arrays: leaves.length, bytes, segments: leaves.length, persistent, format, toml };
  }
  if (format !== 'ndshm') throw invalid(`format must be 'ndshm' or 'cute-shm', got ${show(format)}`);
  const builder = new StoreBuilder(name, { persistent, overwrite, attrs: opts.attrs, mode: opts.mode });
  leaves.forEach((l) => builder.add(l.path, l.shape, l.dtype, l.attrs));
  const targets = builder.allocate();
  try {
    leaves.forEach((l, i) => fill(targets[i]!, l));
  } catch (err) {
    builder.abort();
    throw err;
  }
  return { ...builder.publish(), format: 'ndshm' };
}

/**
 * The store `name` from any process of this user: the same nested structure, each array a leaf
 * { data: SharedNDArray, meta: { shape, dtype, attrs, segment } }. `using` releases all of them.
 */
export function shmToArrays(name: string, options?: ShmToArraysOptions): StoreTree & Disposable {
  const opts = checkOptions(options, ['readOnly', 'allowOtherUsers', 'format', 'cuteShmRoot'], 'shmToArrays');
  const readOnly = checkBoolean(opts.readOnly, 'readOnly', false);
  if (opts.format !== undefined && opts.format !== 'ndshm' && opts.format !== 'cute-shm') throw invalid(`format must be 'ndshm' or 'cute-shm', got ${show(opts.format)}`);
  if (opts.format !== 'cute-shm') {
    const tree = readNdshmStore(name, { readOnly, allowOtherUsers: opts.allowOtherUsers });
    if (tree !== undefined || opts.format === 'ndshm') {
      if (tree === undefined) throw noStore(name);
      return tree as StoreTree & Disposable;
    }
  }
  const tree = readCuteShm(validateStoreName(name), { root: opts.cuteShmRoot ?? defaultCuteShmRoot, readOnly, allowOtherUsers: checkBoolean(opts.allowOtherUsers, 'allowOtherUsers', false) });
  if (tree === undefined) throw noStore(name);
  return tree as StoreTree & Disposable; // [Symbol.dispose] releases every array (not enumerable)
}

function noStore(name: string): NdshmError {
  return new NdshmError('ENOENT', `no store named "${name}"`, { segment: name });
}

/** Removes a store: its manifest first (so no reader finds it any more), then its segments. */
export function unlink(name: string, options?: { format?: StoreFormat; cuteShmRoot?: string }): void {
  const opts = checkOptions(options, ['format', 'cuteShmRoot'], 'unlink');
  validateStoreName(name);
  if (opts.format !== undefined && opts.format !== 'ndshm' && opts.format !== 'cute-shm') throw invalid(`format must be 'ndshm' or 'cute-shm', got ${show(opts.format)}`);
  if (opts.format !== 'cute-shm') {
    if (removeStore(name)) return;
    if (opts.format === 'ndshm') throw noStore(name);
  }
  if (!removeCuteShm(name, opts.cuteShmRoot ?? defaultCuteShmRoot)) throw noStore(name);
}

export interface StoreArrayInfo {
  readonly path: string[];
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly bytes: number;
  readonly segment: string;
  readonly present: boolean;
  readonly attrs: string[];
}

export interface StoreInfo {
  readonly name: string;
  readonly format: StoreFormat;
  readonly arrays: StoreArrayInfo[];
  readonly bytes: number;
  readonly persistent: boolean | undefined;
  readonly created: Date | undefined;
  readonly ownerPid: number | undefined;
  /** Every segment it lists exists (and is the one it lists). */
  readonly intact: boolean;
  readonly manifest: string;
  /** The store's own attributes (for an HDF5 file: its groups' attributes, by path, "/" the root's). */
  readonly attrs: Record<string, AttrValue>;
}

function ndshmInfo(m: Manifest): StoreInfo {
  const present = m.segments.map((s) => inspectSegment(s.name)?.header?.arrayId.toString(16) === s.id);
  const arrays: StoreArrayInfo[] = [];
  forEachLeaf(m.tree, (path, leaf) => {
    const count = elementCount(leaf.shape);
    const itemsize = toDType(leaf.dtype).itemsize;
    arrays.push({
      path,
      shape: leaf.shape,
      dtype: leaf.dtype,
      bytes: count * itemsize,
      segment: m.segments[leaf.segment]!.name,
      present: present[leaf.segment]!,
      attrs: Object.keys(leaf.attrs ?? {}),
    });
  });
  return {
    name: m.name,
    format: 'ndshm',
    arrays,
    bytes: arrays.reduce((n, a) => n + a.bytes, 0),
    persistent: m.persistent,
    created: new Date(m.created),
    ownerPid: m.owner?.pid,
    intact: present.every(Boolean),
    manifest: shmPath(manifestName(m.name)),
    attrs: decodeAttrs(m.attrs ?? {}, `store "${m.name}"`) as Record<string, AttrValue>,
  };
}

/** Every store of this user: ndshm stores in /dev/shm, and cute-shm stores in its folder. */
export function listStores(options?: { cuteShmRoot?: string }): StoreInfo[] {
  const opts = checkOptions(options, ['cuteShmRoot'], 'listStores');
  const out: StoreInfo[] = [];
  for (const entry of listShm(process.getuid?.())) {
    if (!entry.name.startsWith(manifestPrefix)) continue;
    const store = entry.name.slice(manifestPrefix.length);
    if (!entry.regular) {
      out.push(brokenInfo(store, `${entry.kind}, not a manifest: skipped, never opened`));
      continue;
    }
    try {
      const m = readManifest(store);
      if (m !== undefined) out.push(ndshmInfo(m));
    } catch (err) {
      out.push(brokenInfo(store, (err as Error).message));
    }
  }
  for (const { project, path, names, error } of listCuteShm(opts.cuteShmRoot ?? defaultCuteShmRoot)) {
    if (error !== undefined) {
      out.push({ ...brokenInfo(project, error), format: 'cute-shm', manifest: path });
      continue;
    }
    const arrays = names.map((segment) => ({ path: [], shape: [], dtype: '', bytes: inspectSegment(segment)?.size ?? 0, segment, present: inspectSegment(segment) !== undefined, attrs: [] }));
    out.push({
      name: project,
      format: 'cute-shm',
      arrays,
      bytes: arrays.reduce((n, a) => n + a.bytes, 0),
      persistent: undefined,
      created: undefined,
      ownerPid: undefined,
      intact: arrays.every((a) => a.present),
      manifest: path,
      attrs: {},
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function brokenInfo(name: string, why: string): StoreInfo {
  return { name, format: 'ndshm', arrays: [], bytes: 0, persistent: undefined, created: undefined, ownerPid: undefined, intact: false, manifest: `${shmPath(manifestName(name))} (${why})`, attrs: {} };
}

/**
 * arraysToShm whose store is removed when the returned object is disposed: `using s = unlinkedArraysToShm(...)`
 * (cute-shm's unlinked_arrays_to_shm).
 */
export function unlinkedArraysToShm(name: string, arrays: object, options?: Omit<ArraysToShmOptions, 'persistent'>): WrittenStore & Disposable {
  const written = arraysToShm(name, arrays, { ...options, persistent: false });
  return { ...written, [Symbol.dispose]: () => unlink(name, { format: written.format, ...(options?.cuteShmRoot ? { cuteShmRoot: options.cuteShmRoot } : {}) }) };
}
