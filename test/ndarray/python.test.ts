// Arrays between Node and Python (numpy + python/ndshm.py, standard library only).

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

import { SharedNDArray, gc } from '../../src/index.js';
import { python, pythonMissing } from '../helpers/python.js';
import { exists, uniqueName } from '../helpers/shm.js';

const skip = pythonMissing() ?? false;
if (skip) console.log(`# skipping Python interop: ${skip}`);
const pythonDir = fileURLToPath(new URL('../../../python/', import.meta.url));
const py = (code: string, args: string[] = []): string =>
  python(`import sys, json; sys.path.insert(0, ${JSON.stringify(pythonDir)}); import numpy as np, ndshm\n${code}`, args);

const made: SharedNDArray[] = [];
after(() => made.forEach((a) => a.release()));

// What Python prints of an array: dtype, shape and values (complex as pairs, as toArray gives them).
const describeInPython = `
def describe(a):
    v = a.tolist()
    def fix(x):
        if isinstance(x, list): return [fix(y) for y in x]
        if isinstance(x, complex): return [x.real, x.imag]
        return x
    return {'dtype': a.dtype.str, 'shape': list(a.shape), 'values': fix(v)}
`;

const normal = (v: unknown): unknown => (Array.isArray(v) ? v.map(normal) : typeof v === 'bigint' ? Number(v) : v);

describe('Python reads what Node wrote', { skip }, () => {
  const cases: [string, () => SharedNDArray][] = [
    ['float64', () => SharedNDArray.from([[1.5, 2], [3, 4]])],
    ['float32 in F order', () => SharedNDArray.from([[1, 2, 3], [4, 5, 6]], { dtype: 'float32' }).copy({ order: 'F' })],
    ['big-endian int32', () => SharedNDArray.from([1, -2, 3], { dtype: '>i4' })],
    ['bool', () => SharedNDArray.from([true, false, true])],
    ['int64', () => SharedNDArray.from([2n ** 60n, -1n])],
    ['complex128', () => SharedNDArray.from([[1, 2], [3, -4]], { dtype: 'complex128' }).slice(':', 0)],
    ['float16', () => SharedNDArray.from([0.5, -2, 65504], { dtype: 'float16' })],
    ['zero-size', () => SharedNDArray.zeros([0, 4], 'uint8')],
    ['0-d', () => SharedNDArray.from(42, { dtype: 'uint16' })],
  ];
  for (const [what, make] of cases) {
    it(what, () => {
      const a = make();
      made.push(a);
      const out = JSON.parse(py(`${describeInPython}\nprint(json.dumps(describe(ndshm.open(sys.argv[1]))))`, [a.name!]));
      const base = SharedNDArray.open(a.name!);
      assert.equal(out.dtype, a.dtype.typestr);
      assert.deepEqual(out.shape, [...base.shape]);
      assert.deepEqual(out.values, normal(base.toArray()));
      base.release();
    });
  }

  it('a view, by its handle (offset and negative strides), and writes from Python are seen by Node', () => {
    const a = SharedNDArray.from(new Float64Array(20).map((_, i) => i), { shape: [4, 5] });
    made.push(a);
    const view = a.slice('::-1', '1::2');
    const out = JSON.parse(
      py(`${describeInPython}\nv = ndshm.open(json.loads(sys.argv[1]))\nv[0, 0] = -7\nprint(json.dumps(describe(v)))`, [JSON.stringify(view.handle)]),
    );
    assert.deepEqual(out.values, [[-7, 18], [11, 13], [6, 8], [1, 3]]);
    assert.equal(a.get(3, 1), -7);
  });
});

describe('Node reads what Python wrote', { skip }, () => {
  it('arrays of several dtypes and orders, with numpy\'s values', () => {
    const names = ['f8', 'i4be', 'f4F', 'b1', 'c8'].map((t) => uniqueName(`py${t}`));
    const out = JSON.parse(
      py(
        `${describeInPython}
specs = [('<f8', 'C'), ('>i4', 'C'), ('<f4', 'F'), ('|b1', 'C'), ('<c8', 'C')]
res = []
for name, (dt, order) in zip(sys.argv[1:], specs):
    a = ndshm.create(name, (2, 3), dt, order=order)
    a[...] = np.arange(6).reshape(2, 3) * (1 + 1j if dt == '<c8' else 1) if dt != '|b1' else (np.arange(6).reshape(2, 3) % 2 == 0)
    res.append(describe(a))
print(json.dumps(res))`,
        names,
      ),
    );
    names.forEach((name, i) => {
      const a = SharedNDArray.open(name);
      assert.equal(a.dtype.typestr, out[i].dtype);
      assert.deepEqual([...a.shape], out[i].shape);
      assert.deepEqual(normal(a.toArray()), out[i].values, name);
      if (i === 2) assert.equal(a.order, 'F');
      a.release();
    });
    // Python has exited without unlinking: its arrays are not persistent, so gc() removes them.
    const removed = gc().filter((e) => names.includes(e.name) && e.removed).map((e) => e.name);
    assert.deepEqual(removed.sort(), [...names].sort());
    assert.deepEqual(names.filter(exists), []);
  });

  it('ndshm.py refuses a damaged header', () => {
    const a = SharedNDArray.zeros([2, 2]);
    made.push(a);
    const out = py(
      `import mmap, os
fd = os.open('/dev/shm/' + sys.argv[1], os.O_RDWR); mm = mmap.mmap(fd, 0); mm[128:136] = (10**6).to_bytes(8, 'little')
try:
    ndshm.open(sys.argv[1]); print('opened')
except ndshm.BadHeader as e:
    print('BadHeader')`,
      [a.name!],
    );
    assert.equal(out.trim(), 'BadHeader');
  });
});
