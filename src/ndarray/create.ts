// New arrays: memory for a shape and dtype, and the copy of a source into it.

import { type DType, type TypedArray, dtype as toDType, dtypeOfArray, isTypedArray } from '../dtype.js';
import { invalid, show } from '../errors.js';
import { checkOptions } from '../options.js';
import { validateName } from '../segment/names.js';
import { type Block, type Scope, createBlock } from './block.js';
import { type Layout, type Order, checkShape, contiguousStrides, sizeOf } from './layout.js';

export interface ArrayCreateOptions {
  /** Segment name; a random one (nd-...) when omitted. */
  name?: string;
  /** Memory order. Default 'C'. */
  order?: Order;
  /** Default 'local'. See Scope. */
  scope?: Scope;
  /** Permission bits. Default 0o600. */
  mode?: number;
  /** @internal A SharedMemoryManager's tracker (its shutdown() releases the array). */
  manager?: Tracker;
}

/** What SharedMemoryManager registers arrays with; only trackers it made are accepted. */
export interface Tracker {
  track(block: Block): void;
}
const trackers = new WeakSet<object>();

export function newTracker(track: (block: Block) => void): Tracker {
  const tracker = { track };
  trackers.add(tracker);
  return tracker;
}

/** The manager option, checked: EINVAL unless SharedMemoryManager made it. */
export function checkTracker(manager: unknown): Tracker | undefined {
  if (manager === undefined) return undefined;
  if (typeof manager !== 'object' || manager === null || !trackers.has(manager)) throw invalid('manager is not an option (use a SharedMemoryManager\'s methods)');
  return manager as Tracker;
}

export const createOptionKeys = ['name', 'order', 'scope', 'mode', 'manager'] as const;

export interface Allocation {
  readonly block: Block;
  readonly layout: Layout;
}

export function checkScope(scope: unknown): Scope {
  if (scope === undefined) return 'local';
  if (scope === 'local' || scope === 'remote' || scope === null) return scope;
  throw invalid(`scope must be 'local', 'remote' or null, got ${show(scope)}`);
}

export function allocate(shape: unknown, dtype: unknown, options: ArrayCreateOptions | undefined, where: string, extraKeys: readonly string[] = []): Allocation {
  const opts = checkOptions(options, [...createOptionKeys, ...extraKeys], where);
  const manager = checkTracker(opts.manager);
  const dims = checkShape(shape);
  const dt = toDType((dtype ?? 'float64') as string);
  const order = opts.order ?? 'C';
  if (order !== 'C' && order !== 'F') throw invalid(`order must be 'C' or 'F', got ${show(opts.order)}`);
  if (opts.name !== undefined) validateName(opts.name);
  const strides = contiguousStrides(dims, order);
  const block = createBlock(dt, dims, strides, { name: opts.name, scope: checkScope(opts.scope), mode: opts.mode });
  manager?.track(block);
  return { block, layout: { shape: dims, strides, offset: 0 } };
}

/** What a source holds: its dtype, shape and a way to read its elements in C order. */
export interface SourceData {
  readonly dtype: DType;
  readonly shape: number[];
  /** Elements in C order (numbers, bigints, booleans or [re, im]). */
  readonly values: () => Iterable<unknown>;
}

interface ScijsLike {
  data: ArrayLike<unknown> & { length: number };
  shape: number[];
  stride: number[];
  offset: number;
  dtype?: string;
}

function isScijs(value: unknown): value is ScijsLike {
  const v = value as ScijsLike;
  return typeof v === 'object' && v !== null && Array.isArray(v.shape) && Array.isArray(v.stride) && typeof v.offset === 'number' && v.data !== undefined;
}

function* scijsValues(nd: ScijsLike): Iterable<unknown> {
  const n = nd.shape.length;
  if (nd.shape.some((d) => d === 0)) return;
  const idx = new Array<number>(n).fill(0);
  const data = nd.data as { [i: number]: unknown; get?: (i: number) => unknown };
  const read = typeof data.get === 'function' && !isTypedArray(data) && !Array.isArray(data) ? (i: number) => data.get!(i) : (i: number) => data[i];
  for (;;) {
    let at = nd.offset;
    for (let k = 0; k < n; k++) at += idx[k]! * nd.stride[k]!;
    yield read(at);
    let k = n - 1;
    while (k >= 0 && ++idx[k]! === nd.shape[k]) idx[k--] = 0;
    if (k < 0) return;
  }
}

/** Shape of a nested JS array, checking that it is rectangular. */
function nestedShape(value: unknown[]): number[] {
  const shape: number[] = [];
  let level: unknown = value;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0];
  }
  const check = (node: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (Array.isArray(node)) throw invalid('nested arrays are ragged: some rows are deeper than others');
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw invalid(`nested arrays are ragged at depth ${depth}: expected ${shape[depth]} items`);
    }
    for (const item of node) check(item, depth + 1);
  };
  check(value, 0);
  return shape;
}

function inferDType(values: Iterable<unknown>): DType {
  let kind: 'bool' | 'int64' | 'float64' | undefined;
  for (const v of values) {
    const k = typeof v === 'boolean' ? 'bool' : typeof v === 'bigint' ? 'int64' : 'float64';
    if (kind !== undefined && kind !== k) return toDType('float64');
    kind = k;
  }
  return toDType(kind ?? 'float64');
}

/** Describes a typed array, nested array or scijs ndarray as a source of elements. */
export function describeSource(source: unknown, dtype: string | undefined, shape: readonly number[] | undefined): SourceData {
  if (isTypedArray(source)) {
    const native = dtypeOfArray(source as TypedArray);
    const dims = shape !== undefined ? checkShape(shape) : [source.length];
    if (sizeOf(dims) !== source.length) throw invalid(`shape ${show(shape)} does not hold ${source.length} elements`);
    return { dtype: dtype === undefined ? native : toDType(dtype), shape: dims, values: () => source as Iterable<unknown> };
  }
  if (isScijs(source)) {
    const dt = dtype ?? (isTypedArray(source.data) ? dtypeOfArray(source.data as TypedArray).name : undefined);
    return { dtype: dt === undefined ? inferDType(scijsValues(source)) : toDType(dt), shape: checkShape(source.shape), values: () => scijsValues(source) };
  }
  if (Array.isArray(source)) {
    const dims = nestedShape(source);
    const values = (): Iterable<unknown> => (source as unknown[]).flat(dims.length) as unknown[];
    return { dtype: dtype === undefined ? inferDType(values()) : toDType(dtype), shape: dims, values };
  }
  if (typeof source === 'number' || typeof source === 'bigint' || typeof source === 'boolean') {
    return { dtype: dtype === undefined ? inferDType([source]) : toDType(dtype), shape: [], values: () => [source] };
  }
  throw invalid('from() takes a SharedNDArray, a typed array, a nested array, a scijs ndarray or a scalar');
}
