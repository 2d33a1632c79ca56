// .npy and .npz files into stores and back, against files the real numpy writes and reads.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  NdshmError,
  SharedNDArray,
  arraysToShm,
  dtype,
  npyToShm,
  npzToShm,
  releaseArrays,
  shmToArrays,
  shmToNpy,
  shmToNpz,
  unlink,
} from '../../src/index.js';
import type { StoreLeaf, StoreTree } from '../../src/index.js';
import { contiguousBytes } from '../../src/contiguous.js';
import { copyStats, copyTuning } from '../../src/stores/file-copy.js';
import { formatNpyHeader } from '../../src/stores/npy-header.js';
import { ZipWriter } from '../../src/stores/zip-write.js';
import { inspectSegment } from '../../src/segment/shm-files.js';
import { python, pythonMissing } from '../helpers/python.js';
import { shmNames, uniqueName } from '../helpers/shm.js';

const skip = pythonMissing() ?? false;
if (skip) console.log(`# skipping .npy/.npz tests: ${skip}`);

const dir = mkdtempSync(join(tmpdir(), 'ndshm-npy-'));
const file = (name: string): string => join(dir, name);

const stores = new Set<string>();
/** shmToArrays, released by \`using\`. */
const openStore = (name: string): StoreTree & Disposable => shmToArrays(name) as StoreTree & Disposable;
const storeName = (tag: string): string => {
  const n = uniqueName(tag);
  assert.ok(n.length <= 24, n);
  stores.add(n);
  return n;
};

/** Segments this process made that still exist: ndshm arrays it owns, and manifests of its stores. */
function leftovers(): string[] {
  return shmNames().filter((n) => inspectSegment(n)?.header?.ownerPid === process.pid || (n.startsWith('store.') && stores.has(n.slice(6))));
}

after(() => {
  for (const s of stores) {
    try {
      unlink(s);
    } catch {
      // never made, or removed by its test
    }
  }
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(leftovers(), [], 'segments left behind by this file');
});

/** numpy's view of an array: dtype, shape, F order, a digest of its elements, and small ones' values. */
const describeInPython = `
import hashlib, json, sys
import numpy as np
def describe(a):
    d = {'dtype': a.dtype.str, 'shape': list(a.shape), 'fortran': bool(a.flags.f_contiguous and not a.flags.c_contiguous),
         'digest': hashlib.sha256(a.astype(a.dtype.newbyteorder('<'), order='C').tobytes()).hexdigest()}
    if a.size <= 64:
        wide = a.dtype.kind in 'iu' and a.dtype.itemsize == 8
        def fix(x):
            if isinstance(x, list): return [fix(y) for y in x]
            if isinstance(x, complex): return [x.real, x.imag]
            if wide: return str(x)
            return x
        d['values'] = fix(a.tolist())
    return d
`;

interface Described {
  dtype: string;
  shape: number[];
  fortran: boolean;
  digest: string;
  values?: unknown;
}

const normal = (v: unknown): unknown => (Array.isArray(v) ? v.map(normal) : typeof v === 'bigint' ? v.toString() : v);

function describeArray(a: SharedNDArray): Described {
  const t = a.toTypedArray();
  const d: Described = {
    dtype: a.dtype.typestr,
    shape: [...a.shape],
    fortran: a.order === 'F',
    digest: createHash('sha256').update(new Uint8Array(t.buffer, t.byteOffset, t.byteLength)).digest('hex'),
  };
  if (a.size <= 64) d.values = normal(a.toArray());
  return d;
}

function leaf(tree: StoreTree, path: string): StoreLeaf {
  let node: unknown = tree;
  for (const k of path.split('/')) node = (node as StoreTree)[k];
  assert.ok(node !== undefined && 'data' in (node as object), `no array ${path}`);
  return node as StoreLeaf;
}

function assertSame(tree: StoreTree, expected: Record<string, Described>): void {
  for (const [path, want] of Object.entries(expected)) {
    const got = describeArray(leaf(tree, path).data);
    assert.deepEqual(got, want, path);
  }
}

function code(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof NdshmError, `expected an NdshmError, got ${String(err)}`);
    return { code: err.code, message: err.message };
  }
  assert.fail('expected an error');
}

async function codeAsync(fn: () => Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof NdshmError, `expected an NdshmError, got ${String(err)}`);
    return { code: err.code, message: err.message };
  }
  assert.fail('expected an error');
}

// ----- fixtures, written by numpy -------------------------------------------------------------

const npyFixtures = `
d = sys.argv[1]
big = np.arange(400 * 400, dtype='>f8').reshape(400, 400) / 3
arrays = {
    'f8c': np.arange(12.).reshape(3, 4) * 1.5,
    'f4f': np.asfortranarray((np.arange(24, dtype='<f4') / 7).reshape(4, 6)),
    'i8': np.array([-(2**62) - 5, -1, 0, 2**40 + 3], dtype='<i8'),
    'u8': np.array([2**64 - 1, 7], dtype='<u8'),
    'i4be': np.array([[1, -2, 3], [2**31 - 1, -2**31, 0]], dtype='>i4'),
    'f8be': np.linspace(-1, 1, 7).astype('>f8'),
    'i2bef': np.asfortranarray(np.arange(-3, 3, dtype='>i2').reshape(2, 3)),
    'f8bef_big': np.asfortranarray(big),
    'f8f_big': np.asfortranarray(big.astype('<f8')),
    'b1': np.array([True, False, True, True]),
    'c16': np.array([[1 + 2j, -3.5j], [0, 1e300 + 1j]]),
    'c8f': np.asfortranarray(np.array([[1 + 2j, 3], [4j, -5]], dtype='<c8')),
    'f2': np.array([0.5, -2, 65504, 1e-4, -0.0], dtype='<f2'),
    'u1': np.arange(256, dtype=np.uint8),
    'i1': np.array([-128, 127], dtype=np.int8),
    'scalar': np.array(3.25),
    'empty': np.zeros((0, 3)),
    'i2_3d': np.arange(60, dtype='<i2').reshape(3, 4, 5),
    'f4_3df': np.asfortranarray(np.arange(60, dtype='<f4').reshape(3, 4, 5)),
}
out = {}
for k, a in arrays.items():
    np.save(f'{d}/{k}.npy', a)
    out[k] = describe(np.load(f'{d}/{k}.npy'))
for v in [(2, 0), (3, 0)]:
    a = np.arange(10, dtype='<i4') * v[0]
    with open(f'{d}/v{v[0]}.npy', 'wb') as f:
        np.lib.format.write_array(f, a, version=v)
    out[f'v{v[0]}'] = describe(a)
print(json.dumps(out))
`;

const npzFixtures = `
d = sys.argv[1]
members = {
    'a': np.arange(10, dtype='<i8'),
    'b': np.asfortranarray(np.arange(12, dtype='<f4').reshape(3, 4) / 3),
    'grp/c': np.array([[1, 2], [3, 4]], dtype='>i4'),
    'grp/sub/d': np.array([True, False]),
    'e': np.array(2.5 + 1j),
    'f': np.zeros((2, 0), dtype='<u2'),
    'big': np.arange(3_000_000, dtype='<i4') % 1000,
    'bigf': np.asfortranarray((np.arange(200 * 900, dtype='>f8') % 17).reshape(200, 900)),
}
np.savez(f'{d}/stored.npz', **members)
np.savez_compressed(f'{d}/deflated.npz', **members)
out = {}
for name in ['stored', 'deflated']:
    with np.load(f'{d}/{name}.npz') as z:
        out[name] = {k: describe(z[k]) for k in z.files}
print(json.dumps(out))
`;

describe('.npy into shared memory', { skip }, () => {
  let expected: Record<string, Described>;
  before(() => {
    expected = JSON.parse(python(`${describeInPython}\n${npyFixtures}`, [dir]));
  });

  it('every supported dtype, byte order, memory order and rank, as numpy wrote it', () => {
    for (const [key, want] of Object.entries(expected)) {
      const name = storeName('npy');
      const written = npyToShm(file(`${key}.npy`), name);
      assert.equal(written.arrays, 1);
      assert.equal(written.format, 'ndshm');
      const tree = shmToArrays(name);
      try {
        assert.deepEqual(Object.keys(tree), [key]);
        const a = leaf(tree, key).data;
        assert.deepEqual(describeArray(a), want, key);
        if (want.fortran) {
          // F order in shared memory: numpy's byte strides, not a C-order copy
          let stride = a.itemsize;
          const fStrides = want.shape.map((d) => {
            const s = stride;
            stride *= d;
            return s;
          });
          assert.deepEqual(a.byteStrides, fStrides, key);
        }
      } finally {
        releaseArrays(tree);
        unlink(name);
      }
    }
  });

  it('takes the key from options.key ("/" nests it) and reports progress up to the total', () => {
    const name = storeName('key');
    const seen: [number, number][] = [];
    npyToShm(file('f8bef_big.npy'), name, { key: 'g/h', progress: (done, total) => seen.push([done, total]) });
    using tree = openStore(name);
    assert.deepEqual(describeArray(leaf(tree, 'g/h').data), expected['f8bef_big']);
    assert.deepEqual(seen.at(0), [0, 400 * 400 * 8]);
    assert.deepEqual(seen.at(-1), [400 * 400 * 8, 400 * 400 * 8]);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]![0] >= seen[i - 1]![0]);
    unlink(name);
  });

  it('a persistent store, with store attrs', () => {
    const name = storeName('per');
    const w = npyToShm(file('f8c.npy'), name, { persistent: true, attrs: { source: 'numpy' } });
    assert.equal(w.persistent, true);
    unlink(name);
  });

  it('an existing store: EEXIST and the store untouched; overwrite replaces it', () => {
    const name = storeName('ex');
    arraysToShm(name, { old: new Float64Array([1, 2, 3]) });
    assert.equal(code(() => npyToShm(file('f8c.npy'), name)).code, 'EEXIST');
    {
      using tree = openStore(name);
      assert.deepEqual(Object.keys(tree), ['old']);
      assert.deepEqual(leaf(tree, 'old').data.toArray(), [1, 2, 3]);
    }
    npyToShm(file('f8c.npy'), name, { overwrite: true });
    using tree = openStore(name);
    assert.deepEqual(Object.keys(tree), ['f8c']);
    unlink(name);
  });

  it('a missing file: ENOENT naming the path', () => {
    const r = code(() => npyToShm(file('nope.npy'), storeName('no')));
    assert.equal(r.code, 'ENOENT');
    assert.match(r.message, /nope\.npy/);
  });

  it('unknown or mistyped options: EINVAL', () => {
    assert.equal(code(() => npyToShm(file('f8c.npy'), storeName('op'), { keys: 'x' } as never)).code, 'EINVAL');
    assert.equal(code(() => npyToShm(file('f8c.npy'), storeName('op'), { progress: 3 } as never)).code, 'EINVAL');
    assert.equal(code(() => npyToShm(file('f8c.npy'), storeName('op'), { overwrite: 'yes' } as never)).code, 'EINVAL');
  });

  describe('damaged and unsupported files', () => {
    const original = (): Buffer => readFileSync(file('f8c.npy'));
    /** f8c.npy with its header dict edited (and re-padded to the same length). */
    const edit = (from: string, to: string): Buffer => {
      const b = original();
      const end = 10 + b.readUInt16LE(8);
      const text = b.subarray(10, end).toString('latin1');
      assert.ok(text.includes(from), from);
      const dict = text.replace(from, to).trimEnd();
      assert.ok(dict.length < end - 10);
      return Buffer.concat([b.subarray(0, 10), Buffer.from(`${dict.padEnd(end - 11, ' ')}\n`, 'latin1'), b.subarray(end)]);
    };
    const cases: [string, () => Buffer | string, string, RegExp][] = [
      ['a truncated payload', () => original().subarray(0, original().length - 8), 'EBADHEADER', /88 bytes.*needs 96 bytes/],
      ['a file ending inside the header', () => original().subarray(0, 40), 'EBADHEADER', /header/],
      ['an empty file', () => Buffer.alloc(0), 'EBADHEADER', /not a \.npy file/],
      ['bad magic', () => Buffer.concat([Buffer.from('\x93NUMPZ', 'latin1'), original().subarray(6)]), 'EBADHEADER', /not a \.npy file/],
      ['an unknown version', () => Buffer.concat([original().subarray(0, 6), Buffer.from([4, 0]), original().subarray(8)]), 'EBADHEADER', /version 4\.0/],
      ['a header claiming a bigger shape', () => edit('(3, 4)', '(9, 4)'), 'EBADHEADER', /96 bytes.*\(9, 4\).*needs 288/],
      ['data past the shape', () => Buffer.concat([original(), Buffer.alloc(8)]), 'EBADHEADER', /104 bytes.*needs 96/],
      ['a header that is not a dict literal', () => edit('(3, 4)', "__import__('os').system('true')"), 'EBADHEADER', /not a Python dict literal/],
      ['a header that is not a dict', () => edit("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }", "['<f8', False, (3, 4)]"), 'EBADHEADER', /is a list, not a dict/],
      ['a missing key', () => edit("'fortran_order': False, ", ''), 'EBADHEADER', /no 'fortran_order'/],
      ['an extra key', () => edit("'fortran_order': False, ", "'fortran_order': False, 'extra': 1, "), 'EBADHEADER', /unexpected key 'extra'/],
      ['a key given twice', () => edit("'fortran_order': False, ", "'fortran_order': False, 'fortran_order': True, "), 'EBADHEADER', /unexpected key 'fortran_order'/],
      ['fortran_order not a bool', () => edit("'fortran_order': False", "'fortran_order': 0"), 'EBADHEADER', /True or False/],
      ['a shape that is not a tuple', () => edit('(3, 4)', '[3, 4]'), 'EBADHEADER', /must be a tuple/],
      ['a negative dimension', () => edit('(3, 4)', '(-3, 4)'), 'EBADHEADER', /non-negative/],
    ];
    for (const [what, make, want, message] of cases) {
      it(what, () => {
        const path = file(`bad-${what.replace(/\W+/g, '-')}.npy`);
        writeFileSync(path, make());
        const r = code(() => npyToShm(path, storeName('bad')));
        assert.equal(r.code, want, r.message);
        assert.match(r.message, message);
        assert.deepEqual(leftovers(), []);
      });
    }

    it('structured, object, string, unicode, datetime and long double dtypes: EINVAL naming the dtype', () => {
      const kinds = JSON.parse(
        python(
          `import json, sys
import numpy as np
d = sys.argv[1]
arrays = {
    'structured': np.zeros(3, dtype=[('x', '<f8'), ('y', '<i4')]),
    'object': np.array([1, 'a', None], dtype=object),
    'unicode': np.array(['hello', 'x']),
    'bytes': np.array([b'abc', b'd']),
    'datetime': np.array(['2024-01-01'], dtype='datetime64[D]'),
    'longdouble': np.zeros(2, dtype=np.longdouble),
}
for k, a in arrays.items():
    np.save(f'{d}/kind-{k}.npy', a, allow_pickle=True)
print(json.dumps({k: a.dtype.str for k, a in arrays.items()}))`,
          [dir],
        ),
      ) as Record<string, string>;
      for (const [kind, descr] of Object.entries(kinds)) {
        const r = code(() => npyToShm(file(`kind-${kind}.npy`), storeName('dt')));
        assert.equal(r.code, 'EINVAL', `${kind}: ${r.message}`);
        if (kind === 'structured') assert.match(r.message, /structured dtype \[\('x', '<f8'\), \('y', '<i4'\)\]/);
        else assert.ok(r.message.includes(`'${descr}'`), `${kind}: ${r.message}`);
      }
      assert.deepEqual(leftovers(), []);
    });
  });
});

describe('.npz into shared memory', { skip }, () => {
  let expected: Record<'stored' | 'deflated', Record<string, Described>>;
  before(() => {
    expected = JSON.parse(python(`${describeInPython}\n${npzFixtures}`, [dir]));
  });

  for (const kind of ['stored', 'deflated'] as const) {
    it(`np.savez${kind === 'deflated' ? '_compressed' : ''}: every member, "/" as groups, with numpy's values and orders`, async () => {
      const name = storeName('npz');
      const seen: [number, number][] = [];
      const written = await npzToShm(file(`${kind}.npz`), name, { progress: (d, t) => seen.push([d, t]) });
      assert.equal(written.arrays, 8);
      using tree = openStore(name);
      assert.deepEqual(Object.keys(tree), ['a', 'b', 'grp', 'e', 'f', 'big', 'bigf']);
      assert.deepEqual(Object.keys(tree['grp'] as StoreTree), ['c', 'sub']);
      assertSame(tree, expected[kind]);
      const total = Object.values(expected[kind]).reduce((n, d) => n + d.shape.reduce((a, b) => a * b, 1) * dtype(d.dtype).itemsize, 0);
      assert.deepEqual(seen.at(-1), [total, total]);
      assert.ok(seen.length > 3, 'progress in several steps');
      unlink(name);
    });
  }

  /** The fixture with one byte of member `member`'s data flipped, `at` bytes into it. */
  function corrupt(kind: 'stored' | 'deflated', member: string, at: number): string {
    const bytes = readFileSync(file(`${kind}.npz`));
    const nameAt = bytes.indexOf(Buffer.from(`${member}.npy`)); // the local header comes first
    const dataAt = nameAt + member.length + 4 + bytes.readUInt16LE(nameAt - 2); // name, then the extra field
    bytes[dataAt + at]! ^= 0x5a;
    const path = file(`corrupt-${kind}-${member}-${at}.npz`);
    writeFileSync(path, bytes);
    return path;
  }

  it('a corrupted stored member: EBADHEADER (CRC-32) naming it, nothing left behind', async () => {
    const name = storeName('crc');
    const r = await codeAsync(() => npzToShm(corrupt('stored', 'big', 5000), name));
    assert.equal(r.code, 'EBADHEADER');
    assert.match(r.message, /member "big\.npy".*CRC-32/);
    assert.equal(code(() => shmToArrays(name)).code, 'ENOENT');
    assert.deepEqual(leftovers(), []);
  });

  it('a corrupted deflated member: EBADHEADER naming it, nothing left behind', async () => {
    const name = storeName('crd');
    const r = await codeAsync(() => npzToShm(corrupt('deflated', 'bigf', 1000), name));
    assert.equal(r.code, 'EBADHEADER');
    assert.match(r.message, /member "bigf\.npy"/);
    assert.deepEqual(leftovers(), []);
  });

  it('a truncated archive, and a file that is not a zip: EBADHEADER', async () => {
    const bytes = readFileSync(file('stored.npz'));
    writeFileSync(file('cut.npz'), bytes.subarray(0, bytes.length - 100));
    assert.equal((await codeAsync(() => npzToShm(file('cut.npz'), storeName('cut')))).code, 'EBADHEADER');
    assert.equal((await codeAsync(() => npzToShm(file('f8c.npy'), storeName('cut')))).code, 'EBADHEADER');
    assert.deepEqual(leftovers(), []);
  });

  it('another compression method, an encrypted member, a member that is not .npy: EINVAL', async () => {
    python(
      `import sys, zipfile, io
import numpy as np
d = sys.argv[1]
buf = io.BytesIO(); np.save(buf, np.arange(3)); npy = buf.getvalue()
with zipfile.ZipFile(f'{d}/bzip2.npz', 'w', compression=zipfile.ZIP_BZIP2) as z: z.writestr('x.npy', npy)
with zipfile.ZipFile(f'{d}/readme.npz', 'w') as z:
    z.writestr('x.npy', npy); z.writestr('README.txt', 'hello')
with zipfile.ZipFile(f'{d}/encrypted.npz', 'w') as z: z.writestr('x.npy', npy)
b = bytearray(open(f'{d}/encrypted.npz', 'rb').read())
cd = b.rfind(b'PK\\x01\\x02'); b[cd + 8] |= 1; open(f'{d}/encrypted.npz', 'wb').write(b)`,
      [dir],
    );
    const bzip = await codeAsync(() => npzToShm(file('bzip2.npz'), storeName('bz')));
    assert.equal(bzip.code, 'EINVAL');
    assert.match(bzip.message, /method 12/);
    const readme = await codeAsync(() => npzToShm(file('readme.npz'), storeName('rd')));
    assert.equal(readme.code, 'EINVAL');
    assert.match(readme.message, /README\.txt/);
    const encrypted = await codeAsync(() => npzToShm(file('encrypted.npz'), storeName('en')));
    assert.equal(encrypted.code, 'EINVAL');
    assert.match(encrypted.message, /encrypted/);
    assert.deepEqual(leftovers(), []);
  });

  it('a structured member: EINVAL naming it', async () => {
    python(`import sys; import numpy as np; np.savez(sys.argv[1], ok=np.arange(3), rec=np.zeros(2, dtype=[('x', '<f8')]))`, [file('rec.npz')]);
    const r = await codeAsync(() => npzToShm(file('rec.npz'), storeName('rec')));
    assert.equal(r.code, 'EINVAL');
    assert.match(r.message, /member "rec\.npy".*structured/);
  });

  it('an existing store: EEXIST and the store untouched', async () => {
    const name = storeName('nx');
    arraysToShm(name, { keep: new Int32Array([4, 5]) });
    assert.equal((await codeAsync(() => npzToShm(file('stored.npz'), name))).code, 'EEXIST');
    using tree = openStore(name);
    assert.deepEqual(leaf(tree, 'keep').data.toArray(), [4, 5]);
    unlink(name);
  });

  it('a missing file: ENOENT naming the path; an unknown option: EINVAL', async () => {
    const r = await codeAsync(() => npzToShm(file('nope.npz'), storeName('nz')));
    assert.equal(r.code, 'ENOENT');
    assert.match(r.message, /nope\.npz/);
    assert.equal((await codeAsync(() => npzToShm(file('stored.npz'), storeName('nz'), { key: 'x' } as never))).code, 'EINVAL');
  });

  it('a deflated member claiming more than deflate can produce: EBADHEADER before anything is allocated', async () => {
    const bytes = readFileSync(file('deflated.npz'));
    const central = Buffer.from('PK\x01\x02', 'latin1');
    let at = bytes.indexOf(central);
    while (bytes.toString('latin1', at + 46, at + 51) !== 'a.npy') at = bytes.indexOf(central, at + 4); // a.npy's directory entry
    bytes.writeUInt32LE(0xfffffff0, at + 24); // its uncompressed size
    writeFileSync(file('bomb.npz'), bytes);
    const r = await codeAsync(() => npzToShm(file('bomb.npz'), storeName('bomb')));
    assert.equal(r.code, 'EBADHEADER');
    assert.match(r.message, /member "a\.npy": claims 4294967280 bytes from \d+ deflated bytes/);
    assert.deepEqual(leftovers(), []);
  });

  it('member names in UTF-8', async () => {
    python(`import sys; import numpy as np; np.savez(sys.argv[1], **{'grüße/€': np.arange(2)})`, [file('utf8.npz')]);
    const name = storeName('u8');
    await npzToShm(file('utf8.npz'), name);
    using tree = openStore(name);
    assert.deepEqual(leaf(tree, 'grüße/€').data.toArray(), [0n, 1n]);
    unlink(name);
  });

  it('an empty archive (np.savez with no arrays) is an empty store', async () => {
    python(`import sys; import numpy as np; np.savez(sys.argv[1])`, [file('none.npz')]);
    const name = storeName('none');
    assert.equal((await npzToShm(file('none.npz'), name)).arrays, 0);
    using tree = openStore(name);
    assert.deepEqual(Object.keys(tree), []);
    unlink(name);
  });
});

describe('stores out to .npz and .npy', { skip }, () => {
  const loadInPython = (path: string): Record<string, Described> =>
    JSON.parse(python(`${describeInPython}\nwith np.load(sys.argv[1]) as z:\n    print(json.dumps({k: describe(z[k]) for k in z.files}))`, [path]));

  it('arraysToShm -> shmToNpz -> np.load: dtypes (big-endian too), nested keys, 0-d and empty arrays', () => {
    const name = storeName('out');
    const be = SharedNDArray.from([[1, -2, 3], [4, 5, -6]], { dtype: '>i4' });
    const bef = SharedNDArray.from([1.5, -2.25, 1e300], { dtype: '>f8' });
    const c = SharedNDArray.from([[1, 2], [3, 4]], { dtype: 'complex64' });
    const none = SharedNDArray.zeros([0, 2], 'uint16');
    try {
      arraysToShm(name, {
        f8: new Float64Array([1.5, -2, 3e-300]),
        be,
        bef,
        flags: { data: [true, false, true], attrs: { note: 'ignored by .npz' } },
        big: new BigInt64Array([2n ** 62n + 1n, -(2n ** 63n)]),
        groups: { deep: { x: new Float32Array([0.25, 0.5]), c } },
        scalar: 7,
        none,
        température: new Uint32Array([1, 2]),
      });
    } finally {
      [be, bef, c, none].forEach((a) => a.release());
    }
    const out = file('out.npz');
    const written = shmToNpz(name, out);
    assert.equal(written.arrays, 10);
    assert.equal(written.bytes, statSync(out).size);
    const got = loadInPython(out);
    using tree = openStore(name);
    assert.deepEqual(Object.keys(got).sort(), ['be', 'bef', 'big', 'f8', 'flags', 'groups/deep/c', 'groups/deep/x', 'none', 'scalar', 'température']);
    for (const [k, d] of Object.entries(got)) assert.deepEqual(d, describeArray(leaf(tree, k).data), k);
    assert.equal(got['be']!.dtype, '>i4');
    unlink(name);
  });

  it('npz -> store -> npz keeps Fortran order and byte order as they were', async () => {
    const name = storeName('rt');
    await npzToShm(file('deflated.npz'), name);
    shmToNpz(name, file('again.npz'));
    const ok = python(
      `import sys; import numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert sorted(a.files) == sorted(b.files), (a.files, b.files)
for k in a.files:
    x, y = a[k], b[k]
    assert x.dtype.str == y.dtype.str and x.shape == y.shape, k
    assert x.flags.f_contiguous == y.flags.f_contiguous and x.flags.c_contiguous == y.flags.c_contiguous, k
    assert np.array_equal(x, y), k
print('same')`,
      [file('deflated.npz'), file('again.npz')],
    );
    assert.equal(ok.trim(), 'same');
    unlink(name);
  });

  it('a 64 MiB member (chunked both ways): np.load reads it, and npzToShm reads it back', async () => {
    const name = storeName('big');
    const n = 8 << 20;
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) values[i] = i * 0.5 - 1000;
    arraysToShm(name, { huge: values, small: new Uint8Array([1, 2, 3]) });
    const digest = createHash('sha256').update(new Uint8Array(values.buffer)).digest('hex');
    shmToNpz(name, file('huge.npz'));
    const got = loadInPython(file('huge.npz'));
    assert.equal(got['huge']!.digest, digest);
    assert.deepEqual(got['huge']!.shape, [n]);
    const back = storeName('bk');
    await npzToShm(file('huge.npz'), back);
    using tree = openStore(back);
    assert.equal(describeArray(leaf(tree, 'huge').data).digest, digest);
    unlink(name);
    unlink(back);
  });

  it('shmToNpy: one array (big-endian, F order) to a .npy that np.load reads', () => {
    const name = storeName('one');
    const small = storeName('one2');
    npyToShm(file('f8bef_big.npy'), name, { key: 'g/a' }); // in a segment of its own
    npyToShm(file('i2bef.npy'), small); // in a pack segment
    shmToNpy(name, 'g/a', file('one.npy'));
    shmToNpy(small, ['i2bef'], file('one2.npy'));
    const described = JSON.parse(python(`${describeInPython}\nprint(json.dumps([describe(np.load(p)) for p in sys.argv[1:]]))`, [file('one.npy'), file('one2.npy')]));
    const want = JSON.parse(python(`${describeInPython}\nprint(json.dumps([describe(np.load(p)) for p in sys.argv[1:]]))`, [file('f8bef_big.npy'), file('i2bef.npy')]));
    assert.deepEqual(described, want);
    assert.equal(described[0].fortran, true);
    assert.equal(code(() => shmToNpy(name, 'g/none', file('x.npy'))).code, 'ENOENT');
    assert.equal(code(() => shmToNpy(name, 'g', file('x.npy'))).code, 'ENOENT');
    unlink(name);
    unlink(small);
  });

  it('an existing file: EEXIST and the file untouched; overwrite replaces it; failures leave no temporary file', () => {
    const name = storeName('ow');
    arraysToShm(name, { x: new Int16Array([1, 2]) });
    const path = file('exists.npz');
    writeFileSync(path, 'precious');
    assert.equal(code(() => shmToNpz(name, path)).code, 'EEXIST');
    assert.equal(readFileSync(path, 'utf8'), 'precious');
    shmToNpz(name, path, { overwrite: true });
    assert.deepEqual(Object.keys(loadInPython(path)), ['x']);
    assert.equal(code(() => shmToNpz(storeName('gone'), file('gone.npz'))).code, 'ENOENT');
    assert.equal(code(() => shmToNpz(name, join(dir, 'no-such-dir', 'x.npz'))).code, 'ENOENT');
    assert.equal(code(() => shmToNpz(name, file('y.npz'), { overwrite: 1 } as never)).code, 'EINVAL');
    // a directory under the name: EFTYPE, and the directory stays where it is (an atomic exchange
    // would swap a file with a directory where a rename fails)
    const folder = file('a-folder.npz');
    mkdirSync(folder);
    writeFileSync(join(folder, 'inside'), 'kept');
    assert.equal(code(() => shmToNpz(name, folder, { overwrite: true })).code, 'EFTYPE');
    assert.equal(readFileSync(join(folder, 'inside'), 'utf8'), 'kept');
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp') || f.startsWith('gone') || f.startsWith('y.')), []);
    unlink(name);
  });

  it('ZIP64 records (forced on small members) are read by numpy and by npzToShm', async () => {
    const path = file('zip64.npz');
    const arrays = { 'p/q': SharedNDArray.from([1, 2, 3], { dtype: '<i8' }), r: SharedNDArray.from([[1.5, 2.5]], { dtype: '>f4' }) };
    const fd = openSync(path, 'w');
    try {
      const zip = new ZipWriter(fd, path, { forceZip64: true });
      for (const [key, a] of Object.entries(arrays)) {
        const header = formatNpyHeader(a.dtype, a.shape, false);
        const payload = a[contiguousBytes]();
        zip.addStored(`${key}.npy`, header.length + payload.length, (write) => {
          write(header);
          write(payload);
        });
      }
      zip.finish();
    } finally {
      closeSync(fd);
    }
    const got = loadInPython(path);
    assert.deepEqual(got['p/q']!.values, ['1', '2', '3']);
    assert.deepEqual(got['r']!.values, [[1.5, 2.5]]);
    assert.equal(got['r']!.dtype, '>f4');
    const name = storeName('z64');
    await npzToShm(path, name);
    using tree = openStore(name);
    assert.deepEqual(describeArray(leaf(tree, 'p/q').data), got['p/q']);
    assert.deepEqual(describeArray(leaf(tree, 'r').data), got['r']);
    Object.values(arrays).forEach((a) => a.release());
    unlink(name);
  });

  it('headers are written as numpy writes them: version 1.0, padded so the data starts at a multiple of 64', () => {
    const text = (h: Uint8Array): string => Buffer.from(h).toString('latin1');
    const h = formatNpyHeader(dtype('<f8'), [3, 4], true);
    assert.deepEqual([...h.subarray(0, 8)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    assert.equal(h.length % 64, 0);
    assert.equal(Buffer.from(h).readUInt16LE(8), h.length - 10);
    assert.equal(text(h).slice(10).trimEnd(), "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 4), }");
    assert.ok(text(h).endsWith(' \n'));
    assert.match(text(formatNpyHeader(dtype('|b1'), [5], false)), /'descr': '\|b1', 'fortran_order': False, 'shape': \(5,\), }/);
    assert.match(text(formatNpyHeader(dtype('>c8'), [], false)), /'descr': '>c8', 'fortran_order': False, 'shape': \(\), }/);
  });
});

// ----- the load paths: sendfile, read() into the mapping, and the fallback from one to the other ---

/** Runs `fn` with copyTuning changed as given, restoring it afterwards. */
async function withTuning<T>(change: Partial<typeof copyTuning>, fn: () => T | Promise<T>): Promise<T> {
  const saved = { ...copyTuning };
  Object.assign(copyTuning, change);
  try {
    return await fn();
  } finally {
    Object.assign(copyTuning, saved);
  }
}

/** copyStats growth over `fn`. */
async function statsOf(fn: () => unknown): Promise<{ sendfile: number; read: number; refused: number }> {
  const before = { ...copyStats };
  await fn();
  return { sendfile: copyStats.sendfile - before.sendfile, read: copyStats.read - before.read, refused: copyStats.refused - before.refused };
}

const pathFixtures = `
d = sys.argv[1]
n = 300 * 500
base = np.arange(n, dtype='<f8').reshape(300, 500) * 0.25 - 7
arrays = {
    # own segments (>= 1 MiB): many 64 KiB chunks each
    'f8_le_c': base,
    'f8_be_c': base.astype('>f8'),
    'f8_le_f': np.asfortranarray(base),
    'f8_be_f': np.asfortranarray(base.astype('>f8')),
    'i4_be_f3': np.asfortranarray((np.arange(n, dtype='>i4') - 5000).reshape(50, 60, 50)),
    'c16_be_c': (base[:200] + 1j * base[:200]).astype('>c16'),
    # in a pack segment (< 1 MiB), at offsets inside it
    'i2_be_c': (np.arange(7000, dtype='>i2') - 3000).reshape(70, 100),
    'f4_le_f': np.asfortranarray(np.arange(6000, dtype='<f4').reshape(60, 100) / 3),
    'u8_be_f': np.asfortranarray(np.arange(2 ** 64 - 3000, 2 ** 64, dtype='>u8').reshape(30, 100)),
    'b1': np.arange(1000) % 3 == 0,
}
out = {}
for k, a in arrays.items():
    np.save(f'{d}/path-{k}.npy', a)
    out[k] = describe(np.load(f'{d}/path-{k}.npy'))
np.savez(f'{d}/paths.npz', **arrays)
print(json.dumps(out))
`;

describe('load paths: sendfile, read() into the mapping, and the fallback', { skip }, () => {
  let expected: Record<string, Described>;
  const keys = (): string[] => Object.keys(expected);
  const totalBytes = (): number => keys().reduce((n, k) => n + statSync(file(`path-${k}.npy`)).size, 0);
  before(() => {
    expected = JSON.parse(python(`${describeInPython}\n${pathFixtures}`, [dir]));
  });

  const chunk = 64 << 10;
  const paths: [string, Partial<typeof copyTuning>, (s: { sendfile: number; read: number; refused: number }, payload: number) => void][] = [
    ['sendfile', { method: 'auto' }, (s, payload) => assert.deepEqual(s, { sendfile: payload, read: 0, refused: 0 })],
    ['read() into the mapping (forced)', { method: 'read' }, (s, payload) => assert.deepEqual(s, { sendfile: 0, read: payload, refused: 0 })],
    [
      'sendfile refused after the first chunk, read() for the rest',
      { method: 'auto', refuseSendfileAfter: chunk },
      (s, payload) => {
        assert.ok(s.refused >= 6, `${s.refused} refusals`); // each array of more than one chunk
        assert.ok(s.sendfile > 0 && s.read > 0);
        assert.equal(s.sendfile + s.read, payload);
      },
    ],
  ];
  for (const [what, tuning, check] of paths) {
    it(`${what}: .npy files byte-identical to numpy, both byte orders, C and F order, own and pack segments`, async () => {
      let payload = 0;
      const stats = await statsOf(() =>
        withTuning({ ...tuning, chunkBytes: chunk }, () => {
          for (const key of keys()) {
            const name = storeName('path');
            const w = npyToShm(file(`path-${key}.npy`), name, { key });
            payload += w.bytes;
            using tree = openStore(name);
            assert.deepEqual(describeArray(leaf(tree, key).data), expected[key], `${what}: ${key}`);
            unlink(name);
          }
        }),
      );
      assert.ok(payload < totalBytes());
      check(stats, payload);
    });

    it(`${what}: a stored .npz (CRC-32 checked over the copied bytes) byte-identical to numpy`, async () => {
      const name = storeName('pathz');
      let payload = 0;
      const stats = await statsOf(() =>
        withTuning({ ...tuning, chunkBytes: chunk }, async () => {
          payload = (await npzToShm(file('paths.npz'), name)).bytes;
        }),
      );
      using tree = openStore(name);
      assertSame(tree, expected);
      check(stats, payload);
      unlink(name);
    });
  }

  it('a stored member whose bytes changed: the CRC-32 over what sendfile copied catches it', async () => {
    const bytes = readFileSync(file('paths.npz'));
    const at = bytes.indexOf(Buffer.from('f8_be_f.npy')) + 200_000;
    bytes[at]! ^= 0x01;
    writeFileSync(file('paths-bad.npz'), bytes);
    const name = storeName('crcs');
    const r = await codeAsync(() => withTuning({ chunkBytes: chunk }, () => npzToShm(file('paths-bad.npz'), name)));
    assert.equal(r.code, 'EBADHEADER');
    assert.match(r.message, /f8_be_f\.npy.*CRC-32 mismatch/);
    assert.deepEqual(leftovers(), []);
  });

  for (const method of ['auto', 'read'] as const) {
    it(`a file truncated in the middle of the copy (${method === 'auto' ? 'sendfile' : 'read()'}): EBADHEADER, nothing left behind`, async () => {
      const path = file(`cut-${method}.npy`);
      writeFileSync(path, readFileSync(file('path-f8_be_f.npy')));
      const size = statSync(path).size;
      const name = storeName('cut');
      let ticks = 0;
      const r = await codeAsync(() =>
        withTuning({ chunkBytes: chunk, method }, () =>
          npyToShm(path, name, {
            progress: (done) => {
              if (done > 0 && ticks++ === 0) truncateSync(path, Math.floor(size / 2)); // after the first chunk landed
            },
          }),
        ),
      );
      assert.equal(r.code, 'EBADHEADER');
      assert.match(r.message, new RegExp(`ended at byte ${Math.floor(size / 2)}, \\d+ bytes short`));
      assert.equal(code(() => shmToArrays(name)).code, 'ENOENT');
      assert.deepEqual(leftovers(), []);
    });
  }

  it('a stored .npz truncated in the middle of a member: EBADHEADER, nothing left behind', async () => {
    const path = file('cut.npz');
    writeFileSync(path, readFileSync(file('paths.npz')));
    const name = storeName('cutz');
    let cut = false;
    const r = await codeAsync(() =>
      withTuning({ chunkBytes: chunk }, () =>
        npzToShm(path, name, {
          progress: (done) => {
            if (done > 0 && !cut) {
              cut = true;
              truncateSync(path, 300_000); // inside the first member's payload
            }
          },
        }),
      ),
    );
    assert.equal(r.code, 'EBADHEADER');
    assert.match(r.message, /ended at byte 300000/);
    assert.deepEqual(leftovers(), []);
  });

  it('a FIFO given as the file: EFTYPE at once, no wait for a writer', async () => {
    const fifo = file('fifo.npy');
    const made = spawnSync('mkfifo', [fifo]);
    assert.equal(made.status, 0, String(made.stderr));
    const r = code(() => npyToShm(fifo, storeName('fifo')));
    assert.equal(r.code, 'EFTYPE');
    assert.match(r.message, /not a regular file/);
    assert.equal((await codeAsync(() => npzToShm(fifo, storeName('fifo')))).code, 'EFTYPE');
    assert.deepEqual(leftovers(), []);
  });

  describe('AbortSignal', () => {
    it('an aborted signal: EABORTED before anything is allocated, the reason as the cause', async () => {
      const reason = new Error('stop');
      const name = storeName('ab0');
      try {
        npyToShm(file('path-f8_le_c.npy'), name, { signal: AbortSignal.abort(reason) });
        assert.fail('expected EABORTED');
      } catch (err) {
        assert.ok(err instanceof NdshmError);
        assert.equal(err.code, 'EABORTED');
        assert.equal(err.cause, reason);
      }
      assert.equal((await codeAsync(() => npzToShm(file('paths.npz'), name, { signal: AbortSignal.abort() }))).code, 'EABORTED');
      assert.deepEqual(leftovers(), []);
    });

    it('aborted between chunks (from progress): the copy stops at the next chunk, nothing left behind', async () => {
      for (const method of ['auto', 'read'] as const) {
        const ac = new AbortController();
        const name = storeName('ab1');
        const seen: number[] = [];
        const r = await codeAsync(() =>
          withTuning({ chunkBytes: chunk, method }, () =>
            npyToShm(file('path-f8_be_f.npy'), name, {
              signal: ac.signal,
              progress: (done) => {
                seen.push(done);
                if (done >= 2 * chunk) ac.abort();
              },
            }),
          ),
        );
        assert.equal(r.code, 'EABORTED');
        assert.deepEqual(seen, [0, chunk, 2 * chunk]);
        assert.equal(code(() => shmToArrays(name)).code, 'ENOENT');
        assert.deepEqual(leftovers(), []);
      }
    });

    it('npzToShm lets timers run between chunks: an abort from a timer stops it', async () => {
      const ac = new AbortController();
      const name = storeName('ab2');
      let ticks = 0;
      const r = await codeAsync(() =>
        withTuning({ chunkBytes: chunk }, () =>
          npzToShm(file('paths.npz'), name, {
            signal: ac.signal,
            progress: () => {
              if (++ticks === 3) setImmediate(() => ac.abort());
            },
          }),
        ),
      );
      assert.equal(r.code, 'EABORTED');
      assert.ok(ticks < 10, `${ticks} ticks`);
      assert.deepEqual(leftovers(), []);
    });

    it('a signal that is not an AbortSignal: EINVAL', async () => {
      assert.equal(code(() => npyToShm(file('path-b1.npy'), storeName('ab3'), { signal: {} as never })).code, 'EINVAL');
      assert.equal((await codeAsync(() => npzToShm(file('paths.npz'), storeName('ab3'), { signal: 'no' as never }))).code, 'EINVAL');
    });
  });
});
