// Indexing, transpose and reshape against numpy's own answers (test/fixtures/views.json, written by
// scripts/gen-fixtures.py with numpy; never edited by hand).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';

import { type Index, SharedNDArray, isNdshmError } from '../../src/index.js';
import { errorCode } from '../helpers/errors.js';

interface Case {
  base: { dtype: string; shape: number[]; order: 'C' | 'F' };
  ops: ['index' | 'transpose' | 'reshape', unknown[]][];
  numpy: { shape: number[]; strides: number[] | null; values: number[]; view: boolean } | { error: string };
}

/** [one [start, stop, step] per axis, shape, byte strides, byte offset, values in C order] */
type SliceCase = [(number | null)[][], number[], number[], number, number[]];

const fixtures = JSON.parse(readFileSync(new URL('../../../test/fixtures/views.json', import.meta.url), 'utf8')) as {
  numpy: string;
  cases: Case[];
  slices: {
    dtype: 'int16';
    oneD: { n: number; cases: SliceCase[] }[];
    twoD: { dtype: 'int32'; shape: number[]; cases: SliceCase[] };
  };
};

const made: SharedNDArray[] = [];
after(() => made.forEach((a) => a.release()));

function base(spec: Case['base']): SharedNDArray {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const values = spec.dtype === 'int64' ? Array.from({ length: size }, (_, i) => BigInt(i)) : Array.from({ length: size }, (_, i) => i);
  const c = SharedNDArray.from(new (spec.dtype === 'int64' ? BigInt64Array : spec.dtype === 'int32' ? Int32Array : spec.dtype === 'int16' ? Int16Array : spec.dtype === 'float32' ? Float32Array : Float64Array)(values as never), { shape: spec.shape });
  made.push(c);
  if (spec.order === 'C') return c;
  const f = c.copy({ order: 'F' });
  made.push(f);
  return f;
}

function apply(a: SharedNDArray, ops: Case['ops']): SharedNDArray {
  let r = a;
  for (const [op, arg] of ops) {
    if (op === 'index') r = r.slice(...(arg as Index[]));
    else if (op === 'transpose') r = r.transpose(...(arg as number[]));
    else r = r.reshape(arg as number[]);
  }
  return r;
}

const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [Number(v)]);
const describeCase = (c: Case): string => `${c.base.dtype}${JSON.stringify(c.base.shape)}${c.base.order} ${c.ops.map(([o, a]) => `${o}${JSON.stringify(a)}`).join(' ')}`;

describe(`views against numpy ${fixtures.numpy}`, () => {
  for (const c of fixtures.cases) {
    it(describeCase(c), () => {
      const a = base(c.base);
      if ('error' in c.numpy) {
        assert.throws(() => apply(a, c.ops), (err) => isNdshmError(err, 'EINVAL') && /without copying/.test(err.message));
        return;
      }
      const r = apply(a, c.ops);
      assert.deepEqual(r.shape, c.numpy.shape, 'shape');
      assert.deepEqual(flat(r.toArray()), c.numpy.values, 'values');
      assert.equal(r.isShared(), c.numpy.view, 'a view shares memory, an index array copies');
      if (c.numpy.strides !== null) {
        // numpy is free in the strides of axes of length 0 or 1; compare the others.
        const mine = r.byteStrides.map((s, i) => (r.shape[i]! > 1 ? s : null));
        const theirs = c.numpy.strides.map((s, i) => (r.shape[i]! > 1 ? s : null));
        assert.deepEqual(mine, theirs, 'byte strides');
      }
      if (r.isShared()) assert.equal(r.name, a.name);
    });
  }
});

// A grid of slices: every start and stop in {None} and [-n-2, n+2], every step in {None, ±1, ±2, ±3}.
// Out-of-range bounds with negative steps are where clamping goes wrong: a stop clamped to 0 instead
// of -1 drops element 0, a start clamped to -1 instead of n-1 drops the last.
describe(`slices against numpy ${fixtures.numpy}: every start, stop and step`, () => {
  const text = (s: (number | null)[]): string => s.map((v) => v ?? '').join(':');

  /** What differs between ndshm's view and numpy's, as readable lines ([] when they agree). */
  function compare(base: SharedNDArray, spec: Index[], c: SliceCase, form: string): string[] {
    const [slices, shape, strides, offset, values] = c;
    const where = `[${slices.map(text).join(', ')}] (${form})`;
    let view: SharedNDArray;
    try {
      view = base.slice(...spec);
    } catch (err) {
      return [`${where}: threw ${String(err)}`];
    }
    const out: string[] = [];
    const differs = (what: string, mine: unknown, theirs: unknown): void => {
      if (JSON.stringify(mine) !== JSON.stringify(theirs)) out.push(`${where}: ${what} ${JSON.stringify(mine)}, numpy ${JSON.stringify(theirs)}`);
    };
    differs('shape', view.shape, shape);
    // numpy sets the stride of an empty slice to the axis's own; axes of length 0 or 1 never use it.
    differs('byte strides', view.byteStrides.map((s, i) => (shape[i]! > 1 ? s : null)), strides.map((s, i) => (shape[i]! > 1 ? s : null)));
    // An empty view reaches no element, so where it "starts" is not defined.
    if (values.length > 0) differs('byte offset', view.handle.offset - base.handle.offset, offset);
    differs('values', flat(view.toArray()), values);
    return out;
  }

  /** Each case twice: as the string "start:stop:step" and as { start, stop, step }. */
  function check(base: SharedNDArray, cases: SliceCase[]): void {
    const failures = cases.flatMap((c) => [
      ...compare(base, c[0].map(text), c, 'string'),
      ...compare(base, c[0].map(([start, stop, step]) => ({ start, stop, step })), c, 'object'),
    ]);
    assert.deepEqual(failures, [], `${failures.length} differences from numpy`);
  }

  for (const { n, cases } of fixtures.slices.oneD) {
    const steps = [...new Set(cases.map((c) => c[0][0]![2]!))];
    for (const step of steps) {
      const mine = cases.filter((c) => c[0][0]![2] === step);
      it(`1-d of length ${n}, step ${step ?? 'None'}: ${mine.length} slices`, () => {
        const base = SharedNDArray.from(Int16Array.from({ length: n }, (_, i) => i), { shape: [n] });
        made.push(base);
        check(base, mine);
      });
    }
  }

  const { shape, cases } = fixtures.slices.twoD;
  it(`2-d ${JSON.stringify(shape)}, a slice on each axis: ${cases.length} pairs`, () => {
    const base = SharedNDArray.from(Int32Array.from({ length: shape[0]! * shape[1]! }, (_, i) => i), { shape });
    made.push(base);
    check(base, cases);
  });

  it('step 0 is EINVAL (numpy: ValueError), in every form', () => {
    const base = SharedNDArray.from(Int16Array.from([0, 1, 2, 3]), { shape: [4] });
    made.push(base);
    for (const spec of ['::0', '1:3:0', ':: 0', { step: 0 }, { start: 1, stop: 2, step: 0 }] as Index[]) {
      assert.equal(errorCode(() => base.slice(spec)), 'EINVAL', JSON.stringify(spec));
    }
    assert.equal(errorCode(() => base.slice(null, { step: 0 })), 'EINVAL', 'after a new axis');
  });
});
