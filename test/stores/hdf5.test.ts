// hdf5ToShm against fixtures written at test time (scripts/gen-hdf5-fixtures.ts): with h5wasm, and
// with h5py for what h5wasm cannot write (big-endian, float16, bool, mixed compounds). Every store is
// read back here and in a child process.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  type H5pyFixtures,
  type H5wasmFixture,
  writeH5pyFixtures,
  writeH5wasmFixture,
  writeSmallFixtures,
} from '../../scripts/gen-hdf5-fixtures.js';
import * as nd from '../../src/index.js';
import { contiguousBytes } from '../../src/contiguous.js';
import type { AttrValue } from '../../src/stores/attrs.js';
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

        // progress: bytes actually copied, rising to the total, the big array in 12 slabs of 4 MiB
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
