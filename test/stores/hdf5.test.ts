// hdf5ToShm against fixtures written at test time (scripts/gen-hdf5-fixtures.ts): with h5wasm, and
// with h5py for what h5wasm cannot write (big-endian, float16, bool, mixed compounds). Every store is
// read back here and in a child process.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  type H5pyFixtures,
  type H5wasmFixture,
  h5pyPython,
  writeH5pyFixtures,
  writeH5wasmFixture,
  writeSmallFixtures,
} from '../../scripts/gen-hdf5-fixtures.js';
import * as nd from '../../src/index.js';
import { contiguousBytes } from '../../src/contiguous.js';
import type { AttrValue } from '../../src/stores/attrs.js';
import { copyStats, copyTuning } from '../../src/stores/file-copy.js';
import { planSlabs } from '../../src/stores/hdf5/slabs.js';
import { inspectSegment } from '../../src/segment/shm-files.js';
import { manifestName } from '../../src/stores/names.js';
import { runSnippet } from '../helpers/child.js';
import { shmNames, uniqueName } from '../helpers/shm.js';
import { plain } from '../helpers/plain.js';

/**
 * A store as plain JSON, by leaf path: typestr, shape, attrs and values (C order; 64-bit integers as
 * strings), or for big arrays a checksum, sum and corners. Self-contained: it also runs in the child.
 */
function describeStore(tree: unknown): Record<string, Record<string, unknown>> {
  const plain = (v: unknown): unknown => {
    if (typeof v === 'bigint') return { bigint: v.toString() };
    if (typeof v === 'number' && !Number.isFinite(v)) return { number: String(v) };
    if (ArrayBuffer.isView(v)) return { [v.constructor.name]: Array.from(v as unknown as ArrayLike<unknown>, plain) };
    if (Array.isArray(v)) return v.map(plain);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
    return v;
  };
  const element = (v: unknown): unknown =>
    typeof v === 'bigint' ? v.toString() : typeof v === 'number' && !Number.isFinite(v) ? { number: String(v) } : Array.isArray(v) ? v.map(element) : v;
  const flat = (v: unknown, depth: number): unknown[] => (depth === 0 ? [v] : (v as unknown[]).flatMap((x) => flat(x, depth - 1)));
  type Leaf = {
    data: { dtype: { typestr: string }; shape: number[]; ndim: number; size: number; toArray(): unknown; toTypedArray(): ArrayLike<number> };
    meta: { attrs: unknown };
  };
  const out: Record<string, Record<string, unknown>> = {};
  const walk = (node: Record<string, unknown>, prefix: string): void => {
    for (const [key, child] of Object.entries(node)) {
      const leaf = child as Leaf;
      if (leaf.data === undefined || leaf.meta === undefined) {
        walk(child as Record<string, unknown>, `${prefix}${key}/`);
        continue;
      }
      const a = leaf.data;
      const entry: Record<string, unknown> = { dtype: a.dtype.typestr, shape: [...a.shape], attrs: plain(leaf.meta.attrs) };
      if (a.size > 100000) {
        const values = a.toTypedArray();
        let h = 0;
        let sum = 0;
        for (let i = 0; i < values.length; i++) {
          h = (Math.imul(h, 31) + ((values[i]! * 4) | 0)) | 0;
          sum += values[i]!;
        }
        const row = a.shape[a.ndim - 1]!;
        Object.assign(entry, { checksum: h, sum, corners: [values[0], values[row - 1], values[values.length - row], values[values.length - 1]] });
      } else {
        entry.values = flat(a.toArray(), a.ndim).map(element);
      }
      out[`${prefix}${key}`] = entry;
    }
  };
  walk(tree as Record<string, unknown>, '');
  return out;
}

/** describeStore of the store `name`, read in a child process. */
async function describeInChild(name: string): Promise<unknown> {
  const code = `const describeStore = ${describeStore.toString()};
    const tree = nd.shmToArrays(args[0], { readOnly: true });
    send(describeStore(tree));
    nd.releaseArrays(tree);`;
  const r = await runSnippet(code, [name]);
  assert.equal(r.code, 0, `child failed: ${JSON.stringify(r.messages)}\n${r.stderr}`);
  return r.messages[0];
}

function storeAttrs(name: string): Record<string, AttrValue> {
  const info = nd.listStores().find((s) => s.name === name);
  assert.ok(info, `store ${name} is listed`);
  return plain(info.attrs); // listStores decodes them (null-prototype objects)
}

function leafAt(tree: nd.StoreTree, path: string): nd.StoreLeaf {
  let node: unknown = tree;
  for (const key of path.split('/')) node = (node as Record<string, unknown>)[key];
  return node as nd.StoreLeaf;
}

const byPath = (a: { path: string; attribute?: string }, b: { path: string; attribute?: string }): number =>
  `${a.path}@${a.attribute ?? ''}`.localeCompare(`${b.path}@${b.attribute ?? ''}`);

/**
 * Runs `body` and checks that it left nothing of store `name` in /dev/shm: no manifest, no segment
 * with this pid in its header (other test files may create segments meanwhile; those do not count).
 */
async function leavesNothing(name: string, body: () => Promise<void>): Promise<void> {
  const before = new Set(shmNames());
  await body();
  const ours = (n: string): boolean => n === manifestName(name) || inspectSegment(n)?.header?.ownerPid === process.pid;
  assert.deepEqual(shmNames().filter((n) => !before.has(n) && ours(n)), [], 'segments left in /dev/shm');
}

describe('hdf5ToShm', () => {
  let dir: string;
  let fx: H5wasmFixture;
  let small: string;
  let compoundString: string;
  let py: H5pyFixtures | { missing: string };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ndshm-hdf5-'));
    fx = await writeH5wasmFixture(dir);
    ({ small, compoundString } = await writeSmallFixtures(dir));
    py = await writeH5pyFixtures(dir);
    if ('missing' in py) console.log(`# h5py fixtures skipped: ${py.missing}`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('copies groups, every h5wasm dtype, 0-d, zero-size and compound datasets, links and attributes', async () => {
    const name = uniqueName('h5');
    await leavesNothing(name, async () => {
      const ticks: [number, number][] = [];
      try {
        const result = await nd.hdf5ToShm(fx.path, name, { progress: (copied, total) => ticks.push([copied, total]) });
        assert.equal(result.name, name);
        assert.equal(result.persistent, false);
        assert.equal(result.arrays, Object.keys(fx.arrays).length);
        assert.deepEqual([...result.skipped].sort(byPath), [...fx.skipped].sort(byPath));

        // progress: bytes actually copied, rising to the total (each dataset at least once)
        assert.ok(ticks.length >= 12, `${ticks.length} progress calls`);
        ticks.forEach(([copied, total], i) => {
          assert.equal(total, result.bytes);
          if (i > 0) assert.ok(copied > ticks[i - 1]![0], 'progress rises');
        });
        assert.equal(ticks.at(-1)![0], result.bytes);
        const expectedBytes = Object.values(fx.arrays).reduce((n, a) => n + a.shape.reduce((x, y) => x * y, 1) * nd.dtype(a.dtype).itemsize, 0);
        assert.equal(result.bytes, expectedBytes);

        const tree = nd.shmToArrays(name);
        const here = describeStore(tree);
        for (const [path, want] of Object.entries(fx.arrays)) {
          assert.deepEqual(plain(leafAt(tree, path).meta.attrs), want.attrs ?? {}, `${path} attrs`);
        }
        nd.releaseArrays(tree);
        assert.deepEqual(Object.keys(here).sort(), Object.keys(fx.arrays).sort());
        for (const [path, want] of Object.entries(fx.arrays)) {
          const got = here[path]!;
          assert.equal(got.dtype, want.dtype, `${path} dtype`);
          assert.deepEqual(got.shape, want.shape, `${path} shape`);
          if (want.checksum !== undefined) assert.equal(got.checksum, want.checksum, `${path} checksum`);
          else assert.deepEqual(got.values, want.values, `${path} values`);
        }
        assert.deepEqual(storeAttrs(name), fx.storeAttrs);
        assert.deepEqual(await describeInChild(name), JSON.parse(JSON.stringify(here)));
      } finally {
        nd.unlink(name);
      }
    });
  });

  it('keeps what h5py writes: big-endian data and attributes, float16, bools, complex, mixed-order compounds', async (t) => {
    const h5py = py;
    if ('missing' in h5py) return t.skip(h5py.missing);
    const name = uniqueName('h5py');
    await leavesNothing(name, async () => {
      try {
        const result = await nd.hdf5ToShm(h5py.path, name);
        assert.deepEqual([...result.skipped].sort(byPath), [
          { path: '/', attribute: 'ref', reason: 'holds references' },
          { path: '/null', reason: 'is empty (an HDF5 null dataspace: no shape, no values)' },
          { path: '/opaque', reason: 'holds opaque bytes' },
          { path: '/strings_fixed', reason: 'holds fixed-length strings' },
          { path: '/vlen_int', reason: 'holds variable-length sequences' },
        ]);
        const tree = nd.shmToArrays(name);
        const here = describeStore(tree);
        assert.deepEqual(Object.keys(here).sort(), Object.keys(h5py.expected).sort());
        for (const [path, want] of Object.entries(h5py.expected)) {
          const got = here[path]!;
          assert.equal(got.dtype, want.dtype, `${path} dtype (numpy's typestr: the file's byte order is kept)`);
          assert.deepEqual(got.shape, want.shape, `${path} shape`);
          if (want.sum !== undefined) {
            assert.equal(got.sum, want.sum, `${path} sum`);
            assert.deepEqual(got.corners, want.corners, `${path} corners`);
          } else {
            assert.deepEqual(got.values, want.values, `${path} values`);
            const bytes = Buffer.from(leafAt(tree, path).data[contiguousBytes]()).toString('hex');
            assert.equal(bytes, want.hex, `${path}: the bytes numpy has, byte order included`);
          }
        }
        assert.deepEqual(plain(leafAt(tree, 'be/f4').meta.attrs), { units: 'K' });
        nd.releaseArrays(tree);

        assert.deepEqual(storeAttrs(name), {
          '/': {
            bool: true,
            bools: [true, false, true],
            bytes: 'raw\u0000bytes', // numpy.bytes_: a fixed-length ASCII string, kept byte for byte
            void: new Uint8Array([0, 1, 255]),
            f2: 0.5,
            f2s: new Float32Array([1, 2.5, -0.25]),
            be_i4: new Int32Array([1, -2]),
            be_f8: 2.5,
            be_u8: 2n ** 64n - 1n,
            c: { r: 1, i: -2 },
            empty: null,
            i64min: -(2n ** 63n),
            enum: 2,
            vstr: 'h\u00e9llo',
            vstrs: ['a', 'b\u00e9'],
            fstr_utf8: '\u00fcn\u00ef',
            m2: [new Int16Array([0, 1, 2]), new Int16Array([3, 4, 5])],
            rec: { a: 1, b: 2 },
          },
          '/be': { order: 'big' },
          '/mixed': { kind: 'mixed orders' },
        });
        assert.deepEqual(await describeInChild(name), JSON.parse(JSON.stringify(here)));
      } finally {
        nd.unlink(name);
      }
    });
  });

  it('strict: EINVAL for anything it would skip, and nothing is created', async () => {
    const name = uniqueName('h5s');
    await leavesNothing(name, async () => {
      await assert.rejects(nd.hdf5ToShm(fx.path, name, { strict: true }), (err: nd.NdshmError) => {
        assert.equal(err.code, 'EINVAL');
        assert.match(err.message, /strict/);
        assert.ok(err.message.includes(fx.path), err.message);
        return true;
      });
      assert.throws(() => nd.shmToArrays(name), { code: 'ENOENT' });
    });
    const result = await nd.hdf5ToShm(small, name, { strict: true }); // nothing to skip there
    assert.deepEqual(result.skipped, []);
    nd.unlink(name);
  });

  it('a compound field that is not numeric is EINVAL naming the field', async () => {
    const name = uniqueName('h5c');
    await leavesNothing(name, async () => {
      await assert.rejects(nd.hdf5ToShm(compoundString, name), (err: nd.NdshmError) => {
        assert.equal(err.code, 'EINVAL');
        assert.match(err.message, /\/people: field "name" of its compound type holds fixed-length strings/);
        return true;
      });
    });
  });

  it('EEXIST unless overwrite; overwrite replaces the store', async () => {
    const name = uniqueName('h5e');
    try {
      const first = await nd.hdf5ToShm(small, name, { attrs: { run: 1 } });
      assert.deepEqual({ arrays: first.arrays, bytes: first.bytes }, { arrays: 2, bytes: 32 });
      await leavesNothing(name, async () => {
        await assert.rejects(nd.hdf5ToShm(small, name, { attrs: { run: 2 } }), { code: 'EEXIST' });
      });
      assert.equal(storeAttrs(name)['run'], 1);
      await nd.hdf5ToShm(small, name, { overwrite: true, attrs: { run: 3 } });
      assert.equal(storeAttrs(name)['run'], 3);
      const tree = nd.shmToArrays(name);
      assert.deepEqual(leafAt(tree, 'a').data.toArray(), [1, 2, 3]);
      assert.deepEqual(leafAt(tree, 'g/b').data.toArray(), [4, 5]);
      nd.releaseArrays(tree);
    } finally {
      nd.unlink(name);
    }
  });

  it('persistent: the result says so, and the store is there until unlinked', async () => {
    const name = uniqueName('h5p');
    const result = await nd.hdf5ToShm(small, name, { persistent: true });
    try {
      assert.equal(result.persistent, true);
      assert.equal(nd.listStores().find((s) => s.name === name)?.persistent, true);
    } finally {
      nd.unlink(name);
    }
  });

  it('a missing file is ENOENT, a file that is not HDF5 EINVAL, a directory EFTYPE, each naming the path', async () => {
    const name = uniqueName('h5m');
    const missing = join(dir, 'no-such.h5');
    await assert.rejects(nd.hdf5ToShm(missing, name), (err: nd.NdshmError) => err.code === 'ENOENT' && err.message.includes(missing));
    const text = join(dir, 'text.h5');
    writeFileSync(text, 'just some text, long enough to have a few bytes at 512 and beyond'.repeat(40));
    await assert.rejects(nd.hdf5ToShm(text, name), (err: nd.NdshmError) => err.code === 'EINVAL' && err.message.includes(text) && /not an HDF5 file/.test(err.message));
    const empty = join(dir, 'empty.h5');
    writeFileSync(empty, '');
    await assert.rejects(nd.hdf5ToShm(empty, name), (err: nd.NdshmError) => err.code === 'EINVAL' && err.message.includes(empty));
    const folder = join(dir, 'folder.h5');
    mkdirSync(folder);
    await assert.rejects(nd.hdf5ToShm(folder, name), (err: nd.NdshmError) => err.code === 'EFTYPE' && err.message.includes(folder));
    // An HDF5 signature with the rest cut off (HDF5 prints its error stack to stderr here).
    const truncated = join(dir, 'truncated.h5');
    writeFileSync(truncated, readFileSync(small).subarray(0, 64));
    await leavesNothing(name, async () => {
      await assert.rejects(nd.hdf5ToShm(truncated, name), (err: nd.NdshmError) => err.code === 'EINVAL' && err.message.includes(truncated));
    });
    assert.throws(() => nd.shmToArrays(name), { code: 'ENOENT' });
  });

  it('rejects (never throws) for bad arguments: unknown option, bad name, bad progress', async () => {
    const name = uniqueName('h5a');
    const calls: [string, () => Promise<unknown>][] = [
      ['unknown option', () => nd.hdf5ToShm(small, name, { compress: true } as never)],
      ['bad store name', () => nd.hdf5ToShm(small, 'bad/name')],
      ['progress not a function', () => nd.hdf5ToShm(small, name, { progress: 5 } as never)],
      ['path not a string', () => nd.hdf5ToShm(42 as never, name)],
    ];
    for (const [what, call] of calls) {
      let pending: Promise<unknown> | undefined;
      assert.doesNotThrow(() => (pending = call()), what);
      await assert.rejects(pending!, { code: 'EINVAL' }, what);
    }
    await assert.rejects(nd.hdf5ToShm(small, name, { compres: 1 } as never), /unknown option "compres"/);
  });

  it('a progress callback that throws midway: its error comes back and nothing is left', async () => {
    const name = uniqueName('h5t');
    const boom = new Error('stop here');
    let calls = 0;
    await leavesNothing(name, async () => {
      await assert.rejects(
        nd.hdf5ToShm(fx.path, name, {
          progress: () => {
            if (++calls === 5) throw boom;
          },
        }),
        (err) => err === boom,
      );
    });
    assert.equal(calls, 5);
    assert.throws(() => nd.shmToArrays(name), { code: 'ENOENT' });
  });

  it('a dataset HDF5 cannot read (LZF, which h5wasm lacks) fails the store halfway, leaving nothing', async (t) => {
    const h5py = py;
    if ('missing' in h5py) return t.skip(h5py.missing);
    const name = uniqueName('h5l');
    const ticks: number[] = [];
    await leavesNothing(name, async () => {
      await assert.rejects(nd.hdf5ToShm(h5py.lzf, name, { progress: (copied) => ticks.push(copied) }), (err: nd.NdshmError) => {
        assert.equal(err.code, 'EINVAL');
        assert.match(err.message, /\/b_lzf: HDF5 could not read it .*lzf/);
        return true;
      });
    });
    assert.equal(ticks.at(-1), 8 << 20, 'the plain dataset before it was copied');
    assert.throws(() => nd.shmToArrays(name), { code: 'ENOENT' });
  });
});

// ----- which datasets go which way: from the file by sendfile (or read()), or through h5wasm's slabs --

/** Runs `fn` with copyTuning changed as given, restoring it afterwards. */
async function withTuning<T>(change: Partial<typeof copyTuning>, fn: () => Promise<T>): Promise<T> {
  const saved = { ...copyTuning };
  Object.assign(copyTuning, change);
  try {
    return await fn();
  } finally {
    Object.assign(copyTuning, saved);
  }
}

// Per file: every dataset kind the two paths split on. Printed per store path: numpy's typestr, shape
// and the SHA-256 of its bytes as h5py returns them (the file's byte order, C order).
const pathScript = `
import hashlib, json, sys
import numpy as np, h5py
d = sys.argv[1]
n = 300 * 500
base = np.arange(n, dtype='<f8').reshape(300, 500) * 0.25 - 7
out = {}
for libver in ['earliest', 'latest']:
    for userblock in [0, 512]:
        path = f'{d}/paths-{libver}-{userblock}.h5'
        with h5py.File(path, 'w', libver=libver, userblock_size=userblock) as f:
            f['f8_le'] = base
            f['f8_be'] = base.astype('>f8')
            f.create_group('g')['i4_be_3d'] = (np.arange(n, dtype='>i4') - 5000).reshape(50, 60, 50)
            f['c16_be'] = (base[:200] - 1j * base[:200]).astype('>c16')
            f['c8_le'] = (np.arange(500) + 2j).astype('<c8')
            f['f2_be'] = (np.arange(300) / 8).astype('>f2')
            f['u8_be'] = np.arange(2 ** 64 - 5000, 2 ** 64, dtype='>u8')
            f['b1'] = np.arange(999) % 3 == 0
            f.create_dataset('enum_be', data=np.arange(400, dtype='>i2') * 3, dtype=h5py.enum_dtype({'A': 0, 'B': 3}, basetype='>i2'))
            f.create_dataset('arr_f4', shape=(1000,), dtype=np.dtype(('<f4', (3,))))
            f['arr_f4'][...] = np.arange(3000, dtype='<f4').reshape(1000, 3) / 4
            f['scalar_be'] = np.array(-2.5, dtype='>f8')
            f.create_dataset('chunked', data=base, chunks=(50, 500))
            f.create_dataset('gzip', data=base.astype('>f4'), compression='gzip')
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_layout(h5py.h5d.COMPACT)
            h5py.h5d.create(f.id, b'compact', h5py.h5t.STD_I32BE, h5py.h5s.create_simple((10,)), dcpl=dcpl).write(h5py.h5s.ALL, h5py.h5s.ALL, np.arange(10, dtype='>i4'))
            f.create_dataset('unallocated', shape=(1000,), dtype='>i4', fillvalue=-3)
            f.create_dataset('empty', shape=(0, 10), dtype='<f8')
            f['record'] = np.array([(i / 2, -i) for i in range(100)], dtype=[('a', '<f4'), ('b', '>i2')])
            # big-endian enums, which h5wasm hands back unconverted (HDF5 will not set an enum's order)
            e = h5py.enum_dtype({'A': 0, 'B': 3, 'C': 258}, basetype='>i2')
            f.create_dataset('enum_chunked', data=np.array([0, 3, 258] * 50, dtype='>i2'), dtype=e, chunks=(30,))
            f.create_dataset('arr_enum', shape=(4,), dtype=np.dtype((e, (2,))), chunks=(2,))
            f['arr_enum'][...] = np.array([[0, 3], [258, 0], [3, 3], [258, 258]], dtype='>i2')
            f['rec_enum'] = np.array([(i / 2, [0, 3, 258][i % 3], -i) for i in range(30)], dtype=[('a', '>f4'), ('e', e), ('c', '>i2')])
            f['f8_le'].attrs.create('enum_be', 258, dtype=e)
            f['f8_le'].attrs['rec'] = np.array((1.5, 258, -1), dtype=[('a', '>f4'), ('e', e), ('c', '>i2')])
            assert f['f8_le'].id.get_create_plist().get_layout() == h5py.h5d.CONTIGUOUS
            assert f['compact'].id.get_create_plist().get_layout() == h5py.h5d.COMPACT
            assert f['unallocated'].id.get_offset() is None or userblock
        with h5py.File(path, 'r') as f:
            arrays = {}
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    a = obj[...]  # a 0-d array for a scalar dataset, in the file's byte order
                    if a.dtype.names:
                        for field in a.dtype.names: arrays[f'{name}/{field}'] = a[field].copy(order='C')
                    else:
                        arrays[name] = a.copy(order='C')
            f.visititems(visit)
            out[path] = {k: {'dtype': a.dtype.str, 'shape': list(a.shape), 'sha256': hashlib.sha256(a.tobytes()).hexdigest()} for k, a in arrays.items()}
with h5py.File(f'{d}/one.h5', 'w') as f:
    f['x'] = base.astype('>f8')
print(json.dumps(out))
`;

const direct = ['f8_le', 'f8_be', 'g/i4_be_3d', 'c16_be', 'c8_le', 'f2_be', 'u8_be', 'b1', 'enum_be', 'arr_f4', 'scalar_be'];
const slabbed = ['chunked', 'gzip', 'compact', 'unallocated', 'empty', 'record', 'enum_chunked', 'arr_enum', 'rec_enum'];

describe('hdf5ToShm load paths', () => {
  let dir: string;
  let expected: Record<string, Record<string, { dtype: string; shape: number[]; sha256: string }>> | undefined;
  let missing: string | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ndshm-h5paths-'));
    const python = h5pyPython();
    if (python === undefined) {
      missing = 'no python3 with h5py';
      return;
    }
    const r = spawnSync(python, ['-c', pathScript, dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`writing the fixtures failed:\n${r.stderr}`);
    expected = JSON.parse(r.stdout);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const chunk = 64 << 10;
  const paths: [string, Partial<typeof copyTuning>, { direct: number; sendfile: boolean; read: boolean }][] = [
    ['contiguous datasets by sendfile', { method: 'auto' }, { direct: direct.length, sendfile: true, read: false }],
    ['contiguous datasets by read() into the mapping (forced)', { method: 'read' }, { direct: direct.length, sendfile: false, read: true }],
    ['sendfile refused after the first chunk, read() for the rest', { method: 'auto', refuseSendfileAfter: chunk }, { direct: direct.length, sendfile: true, read: true }],
    ['every dataset through h5wasm slabs', { hdf5Direct: false }, { direct: 0, sendfile: false, read: false }],
  ];
  for (const [what, tuning, want] of paths) {
    it(`${what}: byte-identical to h5py (both byte orders; superblock 0 and 3, object headers 1 and 2, user block)`, async (t) => {
      if (expected === undefined) return t.skip(missing);
      for (const [path, arrays] of Object.entries(expected)) {
        const name = uniqueName('h5p');
        const before = { ...copyStats };
        await leavesNothing(name, async () => {
          await withTuning({ ...tuning, chunkBytes: chunk }, () => nd.hdf5ToShm(path, name));
          const tree = nd.shmToArrays(name);
          try {
            const got: Record<string, unknown> = {};
            for (const key of Object.keys(arrays)) {
              const a = leafAt(tree, key).data;
              got[key] = { dtype: a.dtype.typestr, shape: [...a.shape], sha256: createHash('sha256').update(a[contiguousBytes]()).digest('hex') };
            }
            assert.deepEqual(got, arrays, `${what}: ${path}`);
            assert.deepEqual(plain(leafAt(tree, 'f8_le').meta.attrs), { enum_be: 258, rec: { a: 1.5, e: 258, c: -1 } });
          } finally {
            nd.releaseArrays(tree);
            nd.unlink(name);
          }
        });
        const datasets = direct.length + slabbed.length;
        assert.equal(copyStats.hdf5Direct - before.hdf5Direct, want.direct, `${path}: datasets copied from the file`);
        assert.equal(copyStats.hdf5Slabs - before.hdf5Slabs, datasets - want.direct, `${path}: datasets copied through h5wasm`);
        assert.equal(copyStats.sendfile > before.sendfile, want.sendfile, `${path}: sendfile used`);
        assert.equal(copyStats.read > before.read, want.read, `${path}: read() used`);
      }
    });
  }

  it('a file truncated in the middle of a direct copy: EINVAL, nothing left behind', async (t) => {
    if (expected === undefined) return t.skip(missing);
    for (const method of ['auto', 'read'] as const) {
      const path = join(dir, `cut-${method}.h5`);
      writeFileSync(path, readFileSync(join(dir, 'one.h5'))); // one 1.2 MB dataset
      const size = statSync(path).size;
      const name = uniqueName('h5cut');
      let cut = false;
      await leavesNothing(name, async () => {
        await assert.rejects(
          withTuning({ chunkBytes: chunk, method }, () =>
            nd.hdf5ToShm(path, name, {
              progress: (copied) => {
                if (copied > 0 && !cut) {
                  cut = true;
                  truncateSync(path, Math.floor(size / 2)); // inside the dataset, after its first chunk landed
                }
              },
            }),
          ),
          (err: nd.NdshmError) => {
            assert.equal(err.code, 'EINVAL');
            assert.match(err.message, new RegExp(`/x: the file ended at byte ${Math.floor(size / 2)}, \\d+ bytes short`));
            return true;
          },
        );
      });
      assert.throws(() => nd.shmToArrays(name), { code: 'ENOENT' });
    }
  });

  it('a layout that puts the data past the end of the file: EINVAL before anything is allocated', async (t) => {
    if (expected === undefined) return t.skip(missing);
    // Object header version 1 (libver earliest) has no checksum: move f8_le's data address near the end.
    const path = join(dir, 'past-end.h5');
    const python = h5pyPython()!;
    const r = spawnSync(
      python,
      [
        '-c',
        `import struct, sys, h5py
src, dst = sys.argv[1], sys.argv[2]
with h5py.File(src, 'r') as f:
    at, size = f['f8_le'].id.get_offset(), f['f8_le'].id.get_storage_size()
data = bytearray(open(src, 'rb').read())
layout = struct.pack('<QQ', at, size)
i = data.find(layout)
assert i > 0 and data.find(layout, i + 1) < 0
data[i:i + 8] = struct.pack('<Q', len(data) - 1000)
open(dst, 'wb').write(data)`,
        join(dir, 'paths-earliest-0.h5'),
        path,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const name = uniqueName('h5end');
    let ticks = 0;
    await leavesNothing(name, async () => {
      await assert.rejects(nd.hdf5ToShm(path, name, { progress: () => ticks++ }), (err: nd.NdshmError) => {
        assert.equal(err.code, 'EINVAL');
        // HDF5 itself refuses to open the dataset (its address is past the end of the file), so the
        // planning fails; ndshm's own range check (directRange) would otherwise catch it.
        assert.ok(err.message.includes(path), err.message);
        return true;
      });
    });
    assert.equal(ticks, 0, 'nothing was copied');
  });

  it('a FIFO given as the file: EFTYPE at once, no wait for a writer', async () => {
    const fifo = join(dir, 'fifo.h5');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    await assert.rejects(nd.hdf5ToShm(fifo, uniqueName('h5f')), (err: nd.NdshmError) => err.code === 'EFTYPE' && /FIFO/.test(err.message));
  });

  it('an AbortSignal: EABORTED from a timer between chunks (direct) or slabs, nothing left behind', async (t) => {
    if (expected === undefined) return t.skip(missing);
    for (const tuning of [{ method: 'auto' as const }, { hdf5Direct: false }]) {
      const ac = new AbortController();
      const name = uniqueName('h5ab');
      let ticks = 0;
      await leavesNothing(name, async () => {
        await assert.rejects(
          withTuning({ ...tuning, chunkBytes: chunk }, () =>
            nd.hdf5ToShm(join(dir, 'paths-earliest-0.h5'), name, {
              signal: ac.signal,
              progress: () => {
                if (++ticks === 2) setImmediate(() => ac.abort(new Error('enough')));
              },
            }),
          ),
          (err: nd.NdshmError) => err.code === 'EABORTED' && (err.cause as Error).message === 'enough',
        );
      });
      assert.ok(ticks < 6, `${ticks} ticks`);
      assert.throws(() => nd.shmToArrays(name), { code: 'ENOENT' });
    }
    await assert.rejects(nd.hdf5ToShm(join(dir, 'paths-earliest-0.h5'), uniqueName('h5ab'), { signal: AbortSignal.abort() }), { code: 'EABORTED' });
    await assert.rejects(nd.hdf5ToShm(join(dir, 'paths-earliest-0.h5'), uniqueName('h5ab'), { signal: 5 } as never), { code: 'EINVAL' });
  });
});

describe('planSlabs', () => {
  const cases: [number[], number, number][] = [
    [[], 8, 64],
    [[0, 5], 8, 64],
    [[10], 4, 16],
    [[7, 3], 8, 64],
    [[3, 5, 7], 8, 40], // one index of axes 0 and 1 is too big: slabs along axis 2
    [[4, 6, 2], 2, 24], // along axis 1
    [[2, 3, 4, 5], 1, 1],
    [[5, 4], 100, 10], // one element bigger than a slab: one element per slab
  ];
  for (const [shape, recordBytes, limit] of cases) {
    it(`covers [${shape}] of ${recordBytes}-byte elements in slabs of at most ${limit} bytes (or one element)`, () => {
      const plan = planSlabs(shape, recordBytes, limit);
      const total = shape.reduce((a, b) => a * b, 1);
      const strides = shape.map((_, k) => shape.slice(k + 1).reduce((a, b) => a * b, 1));
      let next = 0;
      let maxBytes = 0;
      for (const slab of plan.slabs()) {
        assert.equal(slab.first, next, 'slabs follow each other in C order');
        assert.equal(slab.elements, slab.count.reduce((a, b) => a * b, 1));
        assert.equal(slab.offset.reduce((sum, i, k) => sum + i * strides[k]!, 0), slab.first);
        // a contiguous run: after the first axis with count > 1, every axis is whole
        const split = slab.count.findIndex((c) => c > 1);
        if (split >= 0) slab.count.slice(split + 1).forEach((c, k) => assert.equal(c, shape[split + 1 + k]));
        assert.ok(slab.elements * recordBytes <= Math.max(limit, recordBytes), 'within the limit');
        maxBytes = Math.max(maxBytes, slab.elements * recordBytes);
        next += slab.elements;
      }
      assert.equal(next, total);
      assert.equal(plan.maxBytes, maxBytes);
    });
  }
});
