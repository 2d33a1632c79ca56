// Arrays between Node and Python (numpy + python/ndshm.py, standard library only).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { unlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

import { Segment, SharedNDArray, gc } from '../../src/index.js';
import { python, pythonMissing } from '../helpers/python.js';
import { exists, uniqueName } from '../helpers/shm.js';

const skip = pythonMissing() ?? false;
if (skip) console.log(`# skipping Python interop: ${skip}`);
const pythonDir = fileURLToPath(new URL('../../../python/', import.meta.url));
const py = (code: string, args: string[] = [], timeoutMs?: number): string =>
  python(`import sys, json; sys.path.insert(0, ${JSON.stringify(pythonDir)}); import numpy as np, ndshm\n${code}`, args, undefined, timeoutMs);

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

// ndshm.py against hostile segments and handles: every case must end in BadHeader or ValueError.
// Anything else (another exception, a hang, a crash: a segfault is a signal) fails the snippet, and
// py() throws with Python's stderr.
const attemptInPython = `
def attempt(target, readonly=False):
    try:
        a = ndshm.open(target, readonly=readonly)
        a.sum()  # what a caller would do next: with an object dtype, numpy follows the bytes as pointers
        return ['opened', '']
    except ndshm.BadHeader as e:
        return ['BadHeader', str(e)]
    except ValueError as e:
        return ['ValueError', str(e)]
`;

/**
 * `[class, message]` for each target (a name or a handle), opened by ndshm.py in one process. The
 * timeout turns a regression that hangs (a FIFO, a sum over 2**60 elements) into a failure.
 */
function attempts(targets: unknown[], readonly = false, timeoutMs = 30_000): [string, string][] {
  const code = `${attemptInPython}\nprint(json.dumps([attempt(t, ${readonly ? 'True' : 'False'}) for t in json.loads(sys.argv[1])]))`;
  return JSON.parse(py(code, [JSON.stringify(targets)], timeoutMs)) as [string, string][];
}

/** A fresh float64 array of 4 elements whose header `damage` then changes, through a raw mapping. */
function damaged(damage: (v: DataView) => void): SharedNDArray {
  const a = SharedNDArray.from([1, 2, 3, 4]);
  made.push(a);
  const seg = Segment.open(a.name!);
  try {
    damage(new DataView(seg.buffer));
  } finally {
    seg.close();
  }
  return a;
}

const setTypestr = (bytes: number[]) => (v: DataView): void => {
  for (let i = 0; i < 16; i++) v.setUint8(40 + i, bytes[i] ?? 0);
};
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

describe('ndshm.py refuses hostile segments and handles', { skip }, () => {
  it('an object dtype (|O8) in the header: BadHeader, not a segfault', () => {
    // Eight bytes per element, like the float64 it replaces, and elements that are wild pointers:
    // before the typestr check, numpy dereferenced them and the interpreter died with SIGSEGV.
    const a = damaged((v) => {
      setTypestr(ascii('|O8'))(v);
      const dataOffset = Number(v.getBigUint64(16, true));
      for (let i = 0; i < 4; i++) v.setBigUint64(dataOffset + 8 * i, 0x4141414141414141n, true);
    });
    const [[cls, message]] = attempts([a.name]) as [[string, string]];
    assert.equal(cls, 'BadHeader', message);
    assert.match(message, /unsupported typestr '\|O8'/);
  });

  // Types numpy knows and the format does not: strings, bytes, records, dates, durations, long
  // double, a name instead of a typestr, an unsized kind.
  for (const typestr of ['<U2', '|S8', '|V8', '<M8[s]', '<m8[s]', '<f16', 'float64', '>O8', '|b8']) {
    it(`typestr ${typestr} in the header: BadHeader`, () => {
      const a = damaged(setTypestr(ascii(typestr)));
      const [[cls, message]] = attempts([a.name]) as [[string, string]];
      assert.equal(cls, 'BadHeader', message);
      assert.match(message, /unsupported typestr/);
    });
  }

  it('a typestr that is not printable ASCII (UTF-8, Latin-1, a control character): BadHeader, not UnicodeDecodeError', () => {
    const names = [
      damaged(setTypestr([0x3c, 0xc3, 0xa9, 0x38])), // "<é8" in UTF-8
      damaged(setTypestr([0x3c, 0xe9, 0x38])), // Latin-1
      damaged(setTypestr([0x3c, 0x66, 0x01])), // "<f\x01"
    ].map((a) => a.name);
    for (const [cls, message] of attempts(names)) {
      assert.equal(cls, 'BadHeader', message);
      assert.match(message, /not printable ASCII/);
    }
  });

  it('a header whose shape and strides describe more than the data: BadHeader', () => {
    const cases: [string, (v: DataView) => void][] = [
      // shape [2**30, 2**30] with zero strides: every element is inside, but there are 2**60 of them
      ['zero strides, huge shape', (v) => {
        v.setUint32(32, 2, true);
        v.setUint16(10, 128 + 32, true);
        [2n ** 30n, 2n ** 30n, 0n, 0n].forEach((x, i) => v.setBigInt64(128 + 8 * i, x, true));
      }],
      ['negative stride reaching before the data', (v) => v.setBigInt64(136, -8n, true)],
      ['shape beyond int64 times the item size', (v) => {
        v.setBigInt64(128, 2n ** 62n, true);
        v.setBigInt64(136, 0n, true);
      }],
    ];
    const names = cases.map(([, damage]) => damaged(damage).name);
    attempts(names).forEach(([cls, message], i) => assert.equal(cls, 'BadHeader', `${cases[i]![0]}: ${message}`));
  });

  it('hostile handles: BadHeader or ValueError, never a numpy crash or a huge array', () => {
    const a = SharedNDArray.from([1, 2, 3, 4]);
    made.push(a);
    const h = a.handle;
    const cases: [string, Record<string, unknown>, 'BadHeader' | 'ValueError'][] = [
      ['zero strides over shape [2**30, 2**30]', { shape: [2 ** 30, 2 ** 30], strides: [0, 0] }, 'BadHeader'],
      ['a negative stride reaching before the data', { strides: [-8] }, 'BadHeader'],
      ['an offset past the data', { offset: 32 }, 'BadHeader'],
      ['a negative offset', { offset: -8 }, 'BadHeader'],
      ['a huge shape', { shape: [2 ** 62] }, 'BadHeader'],
      ['a stride beyond int64 on an axis of length 1', { shape: [1], strides: [2 ** 70] }, 'BadHeader'],
      ['an empty view with an offset beyond int64', { shape: [0], offset: 2 ** 70 }, 'BadHeader'],
      ['an empty view whose other extents overflow', { shape: [0, 2 ** 62, 2 ** 62], strides: [8, 8, 8] }, 'BadHeader'],
      ['another dtype than the header\'s', { dtype: '|O8' }, 'BadHeader'],
      ['a dtype that is not a string', { dtype: ['<f8'] }, 'ValueError'],
      ['a fractional extent', { shape: [2.5] }, 'ValueError'],
      ['a boolean extent', { shape: [true] }, 'ValueError'],
      ['shape and strides of different lengths', { shape: [2, 2] }, 'ValueError'],
      ['more than 32 dimensions', { shape: new Array(33).fill(1), strides: new Array(33).fill(8) }, 'ValueError'],
      ['an id that is not hex', { id: 'zz' }, 'ValueError'],
      ['a name with a slash', { name: '../etc' }, 'ValueError'],
    ];
    // Python parses JSON integers exactly: 2 ** 70 must reach it as an integer, not as 1.18e21.
    const json = JSON.stringify(cases.map(([, change]) => ({ ...h, ...change }))).replace(/1\.1805916207174113e\+21/g, String(2n ** 70n));
    assert.ok(json.includes(String(2n ** 70n)));
    const out = JSON.parse(py(`${attemptInPython}\nprint(json.dumps([attempt(t) for t in json.loads(sys.argv[1])]))`, [json], 30_000)) as [string, string][];
    out.forEach(([cls, message], i) => assert.equal(cls, cases[i]![2], `${cases[i]![0]}: ${cls} ${message}`));
    // The handle itself still opens: the refusals are about the changes.
    assert.deepEqual(attempts([h]), [['opened', '']]);
  });

  it('ndshm.create refuses dtypes the format lacks (ValueError) and leaves no segment', () => {
    const name = uniqueName('pyobj');
    const out = JSON.parse(
      py(
        `res = []
for dt in [object, '<U2', 'M8[s]', 'V8', 'S4', 'no such type']:
    try:
        ndshm.create(sys.argv[1], (2,), dt); res.append('created')
    except ValueError as e:
        res.append('ValueError')
print(json.dumps(res))`,
        [name],
      ),
    ) as string[];
    assert.deepEqual(out, new Array(6).fill('ValueError'));
    assert.equal(exists(name), false);
  });

  it('a FIFO under a segment name: an error within seconds, not a hang', () => {
    const name = uniqueName('fifo');
    const r = spawnSync('mkfifo', ['-m', '600', `/dev/shm/${name}`], { encoding: 'utf8' });
    assert.equal(r.status, 0, `mkfifo failed: ${r.stderr}`);
    try {
      // A read-only open of a FIFO waits for a writer unless O_NONBLOCK; read-write never waits.
      for (const readonly of [true, false]) {
        const start = Date.now();
        const [[cls, message]] = attempts([name], readonly, 10_000) as [[string, string]];
        assert.equal(cls, 'BadHeader', message);
        assert.match(message, /is a FIFO, not a shared-memory object/);
        assert.ok(Date.now() - start < 5_000, `took ${Date.now() - start} ms`);
      }
    } finally {
      unlinkSync(`/dev/shm/${name}`);
    }
  });
});
