import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, describe, it } from 'node:test';
import { serialize } from 'node:v8';

import { Segment, SharedNDArray, isNdshmError } from '../../src/index.js';
import { exists, uniqueName } from '../helpers/shm.js';
import { errorCode } from '../helpers/errors.js';

const made: SharedNDArray[] = [];
const keep = <T extends SharedNDArray>(a: T): T => (made.push(a), a);
after(() => {
  for (const a of made) a.release();
  const left = made.map((a) => a.name).filter((n): n is string => n !== undefined && exists(n));
  assert.deepEqual(left, [], 'arrays left in /dev/shm');
});


describe('creating arrays', () => {
  it('empty/zeros/full give the shape, dtype and C layout asked for', () => {
    const z = keep(SharedNDArray.zeros([2, 3], 'int32'));
    assert.deepEqual(z.shape, [2, 3]);
    assert.equal(z.dtype.name, 'int32');
    assert.equal(z.ndim, 2);
    assert.equal(z.size, 6);
    assert.equal(z.nbytes, 24);
    assert.deepEqual(z.strides, [3, 1]);
    assert.deepEqual(z.byteStrides, [12, 4]);
    assert.equal(z.order, 'C');
    assert.ok(z.data instanceof Int32Array);
    assert.deepEqual([...z.data], [0, 0, 0, 0, 0, 0]);
    assert.ok(z.isShared());
    assert.match(z.name!, /^nd-/);
    const f = keep(SharedNDArray.full([2, 2], 2.5, 'float32', { order: 'F' }));
    assert.deepEqual(f.strides, [1, 2]);
    assert.equal(f.order, 'F');
    assert.deepEqual(f.toArray(), [[2.5, 2.5], [2.5, 2.5]]);
    const named = keep(SharedNDArray.empty(4, 'uint8', { name: uniqueName('named') }));
    assert.ok(exists(named.name!));
    assert.equal(errorCode(() => SharedNDArray.empty(4, 'uint8', { name: named.name })), 'EEXIST');
  });

  it('from: typed arrays, nested arrays, scalars, scijs ndarrays and other SharedNDArrays', () => {
    const t = keep(SharedNDArray.from(new Float32Array([1, 2, 3, 4, 5, 6]), { shape: [2, 3] }));
    assert.equal(t.dtype.name, 'float32');
    assert.deepEqual(t.toArray(), [[1, 2, 3], [4, 5, 6]]);
    const n = keep(SharedNDArray.from([[1, 2], [3, 4]]));
    assert.equal(n.dtype.name, 'float64');
    assert.deepEqual(n.shape, [2, 2]);
    assert.equal(keep(SharedNDArray.from([true, false])).dtype.name, 'bool');
    assert.equal(keep(SharedNDArray.from([1n, -2n])).dtype.name, 'int64');
    assert.equal(keep(SharedNDArray.from([[1, 2]], { dtype: 'uint8' })).dtype.name, 'uint8');
    const s = keep(SharedNDArray.from(7));
    assert.deepEqual(s.shape, []);
    assert.equal(s.get(), 7);
    const ndarray = createRequire(import.meta.url)('ndarray');
    const sci = ndarray(new Int16Array([1, 2, 3, 4, 5, 6]), [2, 3]).transpose(1, 0);
    const fromSci = keep(SharedNDArray.from(sci));
    assert.equal(fromSci.dtype.name, 'int16');
    assert.deepEqual(fromSci.toArray(), [[1, 4], [2, 5], [3, 6]]);
    const copy = keep(SharedNDArray.from(t.slice(':', '::-1')));
    assert.notEqual(copy.name, t.name);
    assert.deepEqual(copy.toArray(), [[3, 2, 1], [6, 5, 4]]);
    assert.equal(errorCode(() => SharedNDArray.from([[1, 2], [3]])), 'EINVAL');
    assert.equal(errorCode(() => SharedNDArray.from(new Float32Array(3), { shape: [2, 2] })), 'EINVAL');
    assert.equal(errorCode(() => SharedNDArray.from({})), 'EINVAL');
  });

  it('zero-size and 0-d arrays work', () => {
    const e = keep(SharedNDArray.zeros([0, 3]));
    assert.equal(e.size, 0);
    assert.equal(e.data.length, 0);
    assert.deepEqual(e.toArray(), []);
    assert.deepEqual(e.reshape(3, 0).shape, [3, 0]);
    e.fill(1);
    const copy = keep(e.copy());
    assert.deepEqual(copy.shape, [0, 3]);
    const opened = SharedNDArray.open(e.handle);
    assert.equal(opened.size, 0);
    opened.release();
    const d0 = keep(SharedNDArray.full([], 3, 'int8'));
    assert.equal(d0.get(), 3);
    assert.deepEqual(d0.toArray(), 3);
  });

  it('rejects bad shapes, dtypes, orders, scopes and options', () => {
    assert.equal(errorCode(() => SharedNDArray.empty([-1])), 'EINVAL');
    assert.equal(errorCode(() => SharedNDArray.empty([1.5])), 'EINVAL');
    assert.equal(errorCode(() => SharedNDArray.empty([2], 'float128')), 'EINVAL');
    assert.equal(errorCode(() => SharedNDArray.empty([2], 'float64', { order: 'K' as never })), 'EINVAL');
    assert.equal(errorCode(() => SharedNDArray.empty([2], 'float64', { scope: 'global' as never })), 'EINVAL');
    assert.equal(errorCode(() => SharedNDArray.empty([2], 'float64', { nmae: 'x' } as never)), 'EINVAL');
    assert.equal(errorCode(() => SharedNDArray.empty(new Array(33).fill(1))), 'EINVAL');
  });

  it('an array past the mapping limit is ETOOBIG and says which Node lifts it', { skip: Number(process.versions.node.split('.')[0]) >= 22 && 'no limit on Node 22+' }, () => {
    try {
      SharedNDArray.empty([2 ** 29 + 1], 'float64');
      assert.fail('expected ETOOBIG');
    } catch (err) {
      assert.ok(isNdshmError(err, 'ETOOBIG'), String(err));
      assert.match(err.message, /Node 22 and later lift this limit/);
    }
  });
});

describe('elements of every dtype', () => {
  const cases: [string, unknown, unknown][] = [
    ['bool', true, true],
    ['int8', -128, -128],
    ['uint16', 65535, 65535],
    ['int32', -5, -5],
    ['uint32', 4e9, 4e9],
    ['int64', -(2n ** 62n), -(2n ** 62n)],
    ['uint64', 2n ** 63n, 2n ** 63n],
    ['float32', 0.5, 0.5],
    ['float64', Math.PI, Math.PI],
    ['float16', 1.5, 1.5],
    ['complex64', [1, -2], [1, -2]],
    ['complex128', [0.25, 8], [0.25, 8]],
    ['>f4', -3.5, -3.5],
    ['>i8', 123456789n, 123456789n],
    ['>c16', [1, 2], [1, 2]],
    ['>u2', 513, 513],
  ];
  for (const [dt, stored, read] of cases) {
    it(dt, () => {
      const a = keep(SharedNDArray.zeros([2, 2], dt));
      a.set(1, 0, stored as never);
      assert.deepEqual(a.get(1, 0), read);
      assert.deepEqual(a.get(-1, -2), read);
      assert.deepEqual((a.toArray() as unknown[][])[1]![0], read);
      const b = keep(SharedNDArray.open(a.handle));
      assert.deepEqual(b.get(1, 0), read);
      const typed = a.toTypedArray();
      const lanes = a.dtype.lanes;
      const got = lanes === 2 ? [typed[4], typed[5]] : typed[2];
      const expect = dt === 'bool' ? 1 : dt === 'float16' && !('Float16Array' in globalThis) ? 0x3e00 : read;
      assert.deepEqual(got, expect, 'toTypedArray converts to this machine\'s order');
    });
  }

  it('the other byte order has no zero-copy data view', () => {
    const a = keep(SharedNDArray.from([1, 2], { dtype: '>f8' }));
    assert.equal(errorCode(() => a.data), 'EINVAL');
    assert.deepEqual([...a.toTypedArray()], [1, 2]);
  });

  it('get/set check their indices and values', () => {
    const a = keep(SharedNDArray.zeros([2, 3], 'int64'));
    assert.equal(errorCode(() => a.get(2, 0)), 'ERANGE');
    assert.equal(errorCode(() => a.get(0, -4)), 'ERANGE');
    assert.equal(errorCode(() => a.get(0)), 'EINVAL');
    assert.equal(errorCode(() => a.get(0, 1.5)), 'EINVAL');
    assert.equal(errorCode(() => a.set(0, 0, 1.5)), 'EINVAL');
    assert.equal(errorCode(() => a.set(0, 0, 'x' as never)), 'EINVAL');
    a.set(0, 0, 7);
    assert.equal(a.get(0, 0), 7n);
  });
});

describe('views and memory', () => {
  it('data, offset and strides address a view\'s elements; toNdarray shares the memory', () => {
    const a = keep(SharedNDArray.from(new Float64Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), { shape: [3, 4] }));
    const v = a.slice('::-1', '1::2');
    assert.deepEqual(v.toArray(), [[9, 11], [5, 7], [1, 3]]);
    const { data, offset, strides } = v;
    assert.equal(data[offset + 2 * strides[0]! + 1 * strides[1]!], 3);
    const nd = v.toNdarray() as { get(i: number, j: number): number; set(i: number, j: number, x: number): void };
    assert.equal(nd.get(0, 1), 11);
    nd.set(0, 0, -9);
    assert.equal(a.get(2, 1), -9, 'the scijs ndarray writes into shared memory');
    const row = a.slice(1);
    assert.equal(row.order, 'C');
    assert.deepEqual([...row.data], [4, 5, 6, 7], 'a contiguous view\'s data is exactly its elements');
    assert.equal(a.T.order, 'F');
    assert.equal(a.slice(':', '::2').order, null);
  });

  it('fill writes through strided and reversed views only', () => {
    const a = keep(SharedNDArray.zeros([3, 4], 'int16'));
    a.slice('::2', '::-3').fill(5);
    assert.deepEqual(a.toArray(), [[5, 0, 0, 5], [0, 0, 0, 0], [5, 0, 0, 5]]);
    const c = keep(SharedNDArray.zeros([2, 2], 'complex128'));
    c.slice(0).fill([1, 2]);
    assert.deepEqual(c.toArray(), [[[1, 2], [1, 2]], [[0, 0], [0, 0]]]);
  });

  it('copy() makes new shared memory; index arrays make local copies', () => {
    const a = keep(SharedNDArray.from([[1, 2, 3], [4, 5, 6]], { dtype: 'int32' }));
    const c = keep(a.slice(':', '::-1').copy());
    assert.ok(c.isShared());
    assert.notEqual(c.name, a.name);
    c.set(0, 0, 100);
    assert.equal(a.get(0, 2), 3);
    const f = keep(a.copy({ order: 'F', dtype: 'float32' }));
    assert.equal(f.order, 'F');
    assert.deepEqual(f.toArray(), [[1, 2, 3], [4, 5, 6]]);
    const local = a.slice([1, 0]);
    assert.equal(local.isShared(), false);
    assert.equal(local.name, undefined);
    assert.deepEqual(local.toArray(), [[4, 5, 6], [1, 2, 3]]);
    assert.equal(errorCode(() => local.handle), 'EINVAL');
  });

  it('release while views live: views read as length 0, access is ECLOSED, the process lives', () => {
    const a = SharedNDArray.from(new Float64Array([1, 2, 3, 4]), { shape: [2, 2] });
    const view = a.slice(1);
    const typed = view.data;
    const name = a.name!;
    a.release();
    assert.equal(typed.length, 0);
    assert.equal(typed[0], undefined);
    assert.equal(errorCode(() => view.get(0)), 'ECLOSED');
    assert.equal(errorCode(() => view.data), 'ECLOSED');
    assert.equal(errorCode(() => a.handle), 'ECLOSED');
    assert.equal(a.released, true);
    assert.equal(exists(name), false, 'the owner\'s release removes it');
    a.release();
  });

  it('read-only arrays refuse writes with EROFS', () => {
    const a = keep(SharedNDArray.zeros([4], 'uint8'));
    const ro = SharedNDArray.open(a.handle, { readOnly: true });
    assert.equal(ro.readOnly, true);
    assert.equal(errorCode(() => ro.set(0, 1)), 'EROFS');
    assert.equal(errorCode(() => ro.fill(1)), 'EROFS');
    a.set(2, 9);
    assert.equal(ro.get(2), 9);
    ro.release();
  });
});

describe('handles', () => {
  it('are small plain objects whose size does not grow with the array', () => {
    const small = keep(SharedNDArray.zeros([10]));
    const big = keep(SharedNDArray.zeros([10_000_000]));
    const sizes = (a: SharedNDArray): number[] => [JSON.stringify(a.handle).length, serialize(a.handle).length];
    const [s, b] = [sizes(small), sizes(big)];
    // the digits of the shape and the random name/id may differ by a few characters, nothing more
    assert.ok(Math.abs(s[0]! - b[0]!) <= 8 && Math.abs(s[1]! - b[1]!) <= 8, `${s} vs ${b}`);
    assert.ok(b[0]! < 300, `handle is ${b[0]} bytes of JSON`);
    assert.deepEqual(structuredClone(big.handle), big.handle);
    assert.deepEqual(JSON.parse(JSON.stringify(big.handle)), big.handle);
  });

  it('keep a view\'s offset and strides', () => {
    const a = keep(SharedNDArray.from(new Int32Array(24).map((_, i) => i), { shape: [2, 3, 4] }));
    const v = a.slice(1, '::-1', '1::2').T;
    const w = SharedNDArray.open(JSON.parse(JSON.stringify(v.handle)));
    assert.deepEqual(w.toArray(), v.toArray());
    assert.deepEqual(w.strides, v.strides);
    w.release();
  });

  it('never open a later array that took the same name', () => {
    const name = uniqueName('stale');
    const first = SharedNDArray.zeros([2], 'float64', { name });
    const handle = first.handle;
    first.release();
    const second = keep(SharedNDArray.zeros([2], 'float64', { name }));
    assert.equal(errorCode(() => SharedNDArray.open(handle)), 'ENOENT');
    assert.equal(SharedNDArray.open(second.handle).name, name);
  });

  it('hostile handles are refused before any memory is touched', () => {
    const a = keep(SharedNDArray.zeros([4, 4], 'float64'));
    const h = a.handle;
    const bad = (patch: object): string => errorCode(() => SharedNDArray.open({ ...h, ...patch } as never));
    assert.equal(bad({ strides: [64, 8] }), 'EBADHEADER');
    assert.equal(bad({ offset: 128 }), 'EBADHEADER');
    assert.equal(bad({ shape: [5, 4] }), 'EBADHEADER');
    assert.equal(bad({ offset: 4 }), 'EBADHEADER');
    assert.equal(bad({ dtype: '<f4' }), 'EBADHEADER');
    assert.equal(bad({ offset: -8 }), 'EINVAL');
    assert.equal(bad({ shape: [4] }), 'EINVAL');
    assert.equal(bad({ name: '../x' }), 'EINVAL');
    assert.equal(bad({ scope: 'everyone' }), 'EINVAL');
    assert.equal(bad({ id: 'zz' }), 'EINVAL');
  });
});

describe('corrupt or hostile headers', () => {
  // Each case damages the header of a fresh array, then opens it: EBADHEADER, never a crash. A case
  // with a message pattern must be caught by that check, not by an earlier one on the way.
  const cases: [string, (v: DataView) => void, RegExp?][] = [
    ['no magic', (v) => v.setUint8(0, 0x41)],
    ['all zero (not yet written)', (v) => new Uint8Array(v.buffer, v.byteOffset, 8).fill(0)],
    ['future version', (v) => v.setUint16(8, 99, true)],
    ['ndim too large', (v) => v.setUint32(32, 1000, true)],
    ['header length wrong', (v) => v.setUint16(10, 7, true)],
    ['data offset past the end', (v) => v.setBigUint64(16, 1n << 40n, true)],
    ['data offset misaligned', (v) => v.setBigUint64(16, 129n, true)],
    // One item more than the segment holds: in range for a u64 field, a multiple of the item size,
    // and the shape still fits in it, so only `data offset + data length > size` can refuse it.
    [
      'data length past the end',
      (v) => v.setBigUint64(24, BigInt(v.byteLength) - v.getBigUint64(16, true) + 8n, true),
      /data \(\d+ bytes at \d+\) runs past the end of the segment/,
    ],
    ['unknown typestr', (v) => new Uint8Array(v.buffer, v.byteOffset + 40, 3).set([0x3c, 0x7a, 0x39])],
    ['typestr not ASCII', (v) => v.setUint8(41, 0xff)],
    ['shape larger than the data', (v) => v.setBigInt64(128, 1000n, true)],
    ['negative shape', (v) => v.setBigInt64(128, -5n, true)],
    ['stride pointing outside', (v) => v.setBigInt64(128 + 16, 1n << 40n, true)],
    ['stride not a multiple of the item size', (v) => v.setBigInt64(128 + 16, 3n, true)],
  ];
  for (const [what, damage, message] of cases) {
    it(what, () => {
      const model = SharedNDArray.zeros([4, 2], 'float64');
      const modelSeg = Segment.open(model.name!);
      const seg = Segment.create(uniqueName('hdr'), modelSeg.byteLength);
      try {
        new Uint8Array(seg.buffer).set(new Uint8Array(modelSeg.buffer)); // a valid header...
        damage(new DataView(seg.buffer)); // ...then damaged
        assert.throws(
          () => SharedNDArray.open(seg.name),
          (err) => isNdshmError(err, 'EBADHEADER') && (message === undefined || message.test(err.message)),
        );
      } finally {
        modelSeg.close();
        model.release();
        seg.close();
        seg.unlink();
      }
    });
  }

  it('a shape whose element count overflows (to NaN with a 0 at the end) is refused', () => {
    // 21 axes of 2**52 then one of 0: each dimension is in range, but the product overflows to
    // Infinity and then NaN, which no "count > data" comparison catches.
    const model = SharedNDArray.zeros([...Array<number>(21).fill(1), 0], 'float64');
    const modelSeg = Segment.open(model.name!);
    const seg = Segment.create(uniqueName('hdr'), modelSeg.byteLength);
    try {
      new Uint8Array(seg.buffer).set(new Uint8Array(modelSeg.buffer));
      const v = new DataView(seg.buffer);
      for (let k = 0; k < 21; k++) v.setBigInt64(128 + 8 * k, 1n << 52n, true);
      assert.throws(
        () => SharedNDArray.open(seg.name),
        (err) => isNdshmError(err, 'EBADHEADER') && /too many elements/.test(err.message),
      );
    } finally {
      modelSeg.close();
      model.release();
      seg.close();
      seg.unlink();
    }
  });

  it('a segment smaller than a header', () => {
    const seg = Segment.create(uniqueName('tiny'), 16);
    assert.equal(errorCode(() => SharedNDArray.open(seg.name)), 'EBADHEADER');
    seg.close();
    seg.unlink();
  });
});
