// Indexing, transpose and reshape against numpy's own answers (test/fixtures/views.json, written by
// scripts/gen-fixtures.py with numpy; never edited by hand).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';

import { type Index, SharedNDArray, isNdshmError } from '../../src/index.js';

interface Case {
  base: { dtype: string; shape: number[]; order: 'C' | 'F' };
  ops: ['index' | 'transpose' | 'reshape', unknown[]][];
  numpy: { shape: number[]; strides: number[] | null; values: number[]; view: boolean } | { error: string };
}

const fixtures = JSON.parse(readFileSync(new URL('../../../test/fixtures/views.json', import.meta.url), 'utf8')) as {
  numpy: string;
  cases: Case[];
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
