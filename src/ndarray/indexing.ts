// numpy's basic indexing over a layout, plus one index array (advanced indexing, which copies).
//
//   3, -1            an integer: picks one position and drops the axis
//   '1:5', '::-1'    a slice, as in Python; also { start, stop, step }
//   ':'              the whole axis
//   '...'            as many ':' as needed
//   null             a new axis of length 1 (numpy's None / np.newaxis)
//   [0, 2, 2]        an index array (or a boolean mask): the result is a copy

import { invalid, NdshmError, show } from '../errors.js';
import { type Layout, type SliceSpec, sliceIndices } from './layout.js';

export type Index = number | string | SliceSpec | null | readonly number[] | readonly boolean[];

export interface Selection {
  /** The view that basic indexing gives (index-array axes are kept whole). */
  readonly layout: Layout;
  /** The index array, if any: which output axis it applies to, and its positions. */
  readonly take?: { readonly axis: number; readonly indices: readonly number[] };
}

type Parsed = { kind: 'index'; i: number } | { kind: 'slice'; spec: SliceSpec } | { kind: 'ellipsis' } | { kind: 'newaxis' } | { kind: 'array'; values: readonly (number | boolean)[] };

const slicePattern = /^\s*(-?\d+)?\s*:\s*(-?\d+)?\s*(?::\s*(-?\d+)?\s*)?$/;

function parse(spec: Index, position: number): Parsed {
  if (spec === null) return { kind: 'newaxis' };
  if (typeof spec === 'number') {
    if (!Number.isSafeInteger(spec)) throw invalid(`index ${position} must be an integer, got ${spec}`);
    return { kind: 'index', i: spec };
  }
  if (typeof spec === 'string') {
    if (spec.trim() === '...') return { kind: 'ellipsis' };
    if (/^\s*-?\d+\s*$/.test(spec)) return { kind: 'index', i: Number(spec) };
    const m = slicePattern.exec(spec);
    if (m === null) throw invalid(`index ${position}: ${show(spec)} is not a slice such as "1:5", "::-1" or "..."`);
    const num = (s: string | undefined): number | null => (s === undefined ? null : Number(s));
    return { kind: 'slice', spec: { start: num(m[1]), stop: num(m[2]), step: num(m[3]) } };
  }
  if (Array.isArray(spec)) return { kind: 'array', values: spec };
  if (typeof spec === 'object') {
    for (const key of Object.keys(spec)) {
      if (key !== 'start' && key !== 'stop' && key !== 'step') throw invalid(`index ${position}: unknown slice field "${key}"`);
    }
    return { kind: 'slice', spec: spec as SliceSpec };
  }
  throw invalid(`index ${position} must be a number, a slice, "...", null or an array of indices`);
}

function arrayIndices(values: readonly (number | boolean)[], length: number, position: number): number[] {
  if (values.length > 0 && values.every((v) => typeof v === 'boolean')) {
    if (values.length !== length) {
      throw new NdshmError('ERANGE', `index ${position}: a boolean mask of length ${values.length} for an axis of length ${length}`);
    }
    return values.flatMap((v, i) => (v ? [i] : []));
  }
  return values.map((v) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalid(`index ${position}: index arrays hold integers or booleans only`);
    const i = v < 0 ? v + length : v;
    if (i < 0 || i >= length) throw new NdshmError('ERANGE', `index ${v} is out of bounds for an axis of length ${length}`);
    return i;
  });
}

/** Applies index specs to a layout as numpy does. */
export function select(layout: Layout, specs: readonly Index[]): Selection {
  const parsed = specs.map(parse);
  const ellipses = parsed.filter((p) => p.kind === 'ellipsis').length;
  if (ellipses > 1) throw invalid('an index can only have a single ellipsis ("...")');
  if (parsed.filter((p) => p.kind === 'array').length > 1) {
    throw invalid('one index array per selection: select with one, then with the next');
  }
  const consumed = parsed.filter((p) => p.kind !== 'newaxis' && p.kind !== 'ellipsis').length;
  const ndim = layout.shape.length;
  if (consumed > ndim) {
    throw new NdshmError('ERANGE', `too many indices: the array is ${ndim}-dimensional, but ${consumed} were given`);
  }
  const expanded: Parsed[] = [];
  for (const p of parsed) {
    if (p.kind === 'ellipsis') for (let k = 0; k < ndim - consumed; k++) expanded.push({ kind: 'slice', spec: {} });
    else expanded.push(p);
  }
  while (expanded.filter((p) => p.kind !== 'newaxis').length < ndim) expanded.push({ kind: 'slice', spec: {} });

  const shape: number[] = [];
  const strides: number[] = [];
  let offset = layout.offset;
  let axis = 0;
  let take: Selection['take'];
  expanded.forEach((p, position) => {
    if (p.kind === 'newaxis') {
      shape.push(1);
      strides.push(0);
      return;
    }
    const length = layout.shape[axis]!;
    const stride = layout.strides[axis]!;
    axis++;
    if (p.kind === 'index') {
      const i = p.i < 0 ? p.i + length : p.i;
      if (i < 0 || i >= length) {
        throw new NdshmError('ERANGE', `index ${p.i} is out of bounds for axis ${axis - 1} with size ${length}`);
      }
      offset += i * stride;
    } else if (p.kind === 'slice') {
      const { start, step, count } = sliceIndices(p.spec, length);
      if (count > 0) offset += start * stride;
      shape.push(count);
      strides.push(stride * step);
    } else if (p.kind === 'array') {
      take = { axis: shape.length, indices: arrayIndices(p.values, length, position) };
      shape.push(length);
      strides.push(stride);
    }
  });
  if (take === undefined) return { layout: { shape, strides, offset } };
  // With an index array present, integers are advanced indices too; numpy puts the advanced axis
  // where they stand if they are adjacent, and first otherwise.
  const advanced = expanded.flatMap((p, i) => (p.kind === 'index' || p.kind === 'array' ? [i] : []));
  const adjacent = advanced.every((pos, k) => k === 0 || pos === advanced[k - 1]! + 1);
  if (!adjacent && take.axis !== 0) {
    const a = take.axis;
    const move = <T>(xs: T[]): T[] => [xs[a]!, ...xs.slice(0, a), ...xs.slice(a + 1)];
    return { layout: { shape: move(shape), strides: move(strides), offset }, take: { axis: 0, indices: take.indices } };
  }
  return { layout: { shape, strides, offset }, take };
}
