import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  Segment,
  SharedMemoryException,
  createSharedMemoryRegion,
  destroySharedMemoryRegion,
  getContentsAsArray,
  isNdshmError,
  mappedSharedMemoryRegions,
  setSharedMemoryRegion,
} from '../../src/index.js';
import { runSnippet } from '../helpers/child.js';
import { errorCode } from '../helpers/errors.js';
import { exists, uniqueName } from '../helpers/shm.js';


const codeOf = (fn: () => unknown): string => errorCode(fn, SharedMemoryException);

describe('createSharedMemoryRegion', () => {
  it('creates the object named by the key, with or without the leading slash', () => {
    const key = uniqueName('key');
    const r = createSharedMemoryRegion('input', `/${key}`, 256);
    assert.equal(exists(key), true);
    assert.equal(r.tritonShmName, 'input');
    assert.equal(r.shmKey, `/${key}`);
    assert.equal(r.byteSize, 256);
    const again = createSharedMemoryRegion('input', key, 128); // reuses: same object
    setSharedMemoryRegion(r, [new Int32Array([77])]);
    assert.deepEqual([...(getContentsAsArray(again, 'int32', [1]) as Int32Array)], [77]);
    destroySharedMemoryRegion(again);
    destroySharedMemoryRegion(r);
    assert.equal(exists(key), false);
  });

  it('createOnly refuses an existing key with EEXIST', () => {
    const key = `/${uniqueName('only')}`;
    const r = createSharedMemoryRegion('a', key, 64, { createOnly: true });
    assert.equal(codeOf(()  => createSharedMemoryRegion('b', key, 64, { createOnly: true })), 'EEXIST');
    destroySharedMemoryRegion(r);
  });

  it('an existing region smaller than asked is an error (ERANGE), not a resize', () => {
    const key = `/${uniqueName('small')}`;
    const r = createSharedMemoryRegion('a', key, 64);
    assert.equal(codeOf(()  => createSharedMemoryRegion('b', key, 65)), 'ERANGE');
    assert.equal(Segment.open(key.slice(1)).byteLength, 64);
    destroySharedMemoryRegion(r);
  });

  it('rejects bad keys, sizes and options', () => {
    assert.equal(codeOf(()  => createSharedMemoryRegion('a', '/bad/key', 8)), 'EINVAL');
    assert.equal(codeOf(()  => createSharedMemoryRegion('a', '/', 8)), 'EINVAL');
    assert.equal(codeOf(()  => createSharedMemoryRegion('a', `/${'k'.repeat(31)}`, 8)), 'EINVAL');
    assert.equal(codeOf(()  => createSharedMemoryRegion('a', `/${uniqueName('neg')}`, -8)), 'EINVAL');
    assert.equal(codeOf(()  => createSharedMemoryRegion('', `/${uniqueName('t')}`, 8)), 'EINVAL');
    assert.equal(codeOf(()  => createSharedMemoryRegion('a', `/${uniqueName('o')}`, 8, { create_only: true } as never)), 'EINVAL');
  });
});

describe('setSharedMemoryRegion and getContentsAsArray', () => {
  it('packs arrays one after another from an offset; reads are zero-copy views', () => {
    const key = `/${uniqueName('pack')}`;
    const r = createSharedMemoryRegion('t', key, 1024);
    const a = new Float32Array([1, 2, 3, 4]);
    const b = new BigInt64Array([-1n, 2n ** 40n]);
    setSharedMemoryRegion(r, [a, b], 64);
    const va = getContentsAsArray(r, 'FP32', [2, 2], 64) as Float32Array;
    const vb = getContentsAsArray(r, '<i8', [2], 80) as BigInt64Array;
    assert.ok(va instanceof Float32Array);
    assert.deepEqual([...va], [1, 2, 3, 4]);
    assert.ok(vb instanceof BigInt64Array);
    assert.deepEqual([...vb], [-1n, 2n ** 40n]);
    setSharedMemoryRegion(r, [new Float32Array([9])], 64);
    assert.equal(va[0], 9, 'the view sees later writes: it is not a copy');
    destroySharedMemoryRegion(r);
  });

  it('accepts the numpy spellings and Triton names of every dtype', () => {
    const key = `/${uniqueName('dtypes')}`;
    const r = createSharedMemoryRegion('t', key, 64);
    const cases: [string, string][] = [
      ['float64', 'Float64Array'], ['<f8', 'Float64Array'], ['FP64', 'Float64Array'], ['float32', 'Float32Array'],
      ['int8', 'Int8Array'], ['INT16', 'Int16Array'], ['int32', 'Int32Array'], ['int64', 'BigInt64Array'],
      ['uint8', 'Uint8Array'], ['UINT16', 'Uint16Array'], ['uint32', 'Uint32Array'], ['uint64', 'BigUint64Array'],
      ['bool', 'Uint8Array'], ['BOOL', 'Uint8Array'],
    ];
    for (const [spec, type] of cases) assert.equal(getContentsAsArray(r, spec, [2]).constructor.name, type, spec);
    assert.equal(codeOf(()  => getContentsAsArray(r, 'float128', [1])), 'EINVAL');
    destroySharedMemoryRegion(r);
  });

  it('reads big-endian data as a converted copy', () => {
    const key = `/${uniqueName('be')}`;
    const r = createSharedMemoryRegion('t', key, 16);
    const be = new DataView(new ArrayBuffer(8));
    be.setFloat32(0, 1.5, false);
    be.setFloat32(4, -2, false);
    setSharedMemoryRegion(r, [be]);
    assert.deepEqual([...(getContentsAsArray(r, '>f4', [2]) as Float32Array)], [1.5, -2]);
    destroySharedMemoryRegion(r);
  });

  it('nothing is written unless every value fits; reads past the end are ERANGE, never garbage', () => {
    const key = `/${uniqueName('bounds')}`;
    const r = createSharedMemoryRegion('t', key, 16);
    setSharedMemoryRegion(r, [new Uint8Array(16).fill(1)]);
    assert.equal(codeOf(()  => setSharedMemoryRegion(r, [new Uint8Array(8).fill(2), new Uint8Array(9).fill(3)])), 'ERANGE');
    assert.equal(codeOf(()  => setSharedMemoryRegion(r, [new Uint8Array(1)], 16)), 'ERANGE');
    assert.deepEqual([...(getContentsAsArray(r, 'uint8', [16]) as Uint8Array)], new Array(16).fill(1));
    assert.equal(codeOf(()  => getContentsAsArray(r, 'float64', [3])), 'ERANGE');
    assert.equal(codeOf(()  => getContentsAsArray(r, 'uint8', [1], 17)), 'ERANGE');
    assert.equal(codeOf(()  => getContentsAsArray(r, 'float64', [1], 4)), 'EINVAL', 'misaligned view');
    assert.equal(codeOf(()  => getContentsAsArray(r, 'uint8', [-1])), 'EINVAL');
    assert.equal(codeOf(()  => setSharedMemoryRegion(r, [[1, 2] as never])), 'EINVAL');
    assert.equal(codeOf(()  => setSharedMemoryRegion(r, new Uint8Array(1) as never)), 'EINVAL');
    destroySharedMemoryRegion(r);
  });

  it('writes and reads BYTES tensors in Triton\'s format', () => {
    const key = `/${uniqueName('bytes')}`;
    const r = createSharedMemoryRegion('t', key, 128);
    const tensor = [['héllo', ''], [new Uint8Array([0, 255]), 'x']];
    setSharedMemoryRegion(r, [tensor]);
    const raw = getContentsAsArray(r, 'uint8', [4 + 6 + 4 + 0 + 4 + 2 + 4 + 1]) as Uint8Array;
    assert.deepEqual([...raw.subarray(0, 10)], [6, 0, 0, 0, 0x68, 0xc3, 0xa9, 0x6c, 0x6c, 0x6f]);
    const back = getContentsAsArray(r, 'BYTES', [2, 2]) as Uint8Array[];
    assert.deepEqual(back.map((b) => Buffer.from(b).toString('latin1')), ['h\xc3\xa9llo', '', '\x00\xff', 'x']);
    assert.equal(codeOf(()  => setSharedMemoryRegion(r, [[['a'], 'b']])), 'EINVAL', 'ragged');
    setSharedMemoryRegion(r, [new Uint32Array([1000])], 64); // an element length pointing past the end
    assert.equal(codeOf(()  => getContentsAsArray(r, 'BYTES', [1], 64)), 'ERANGE');
    assert.equal(codeOf(()  => getContentsAsArray(r, 'BYTES', [100], 120)), 'ERANGE', 'more elements than bytes');
    destroySharedMemoryRegion(r);
  });
});

describe('destroySharedMemoryRegion and mappedSharedMemoryRegions', () => {
  it('the creator removes the region with its last handle; destroy twice is harmless; use after is ECLOSED', () => {
    const key = `/${uniqueName('destroy')}`;
    const a = createSharedMemoryRegion('t', key, 8);
    const b = createSharedMemoryRegion('t', key, 8);
    assert.ok(mappedSharedMemoryRegions().includes(key));
    destroySharedMemoryRegion(a);
    destroySharedMemoryRegion(a);
    assert.equal(exists(key.slice(1)), true, 'another handle of this process is open');
    assert.equal(codeOf(()  => getContentsAsArray(a, 'uint8', [1])), 'ECLOSED');
    destroySharedMemoryRegion(b);
    assert.equal(exists(key.slice(1)), false);
    assert.ok(!mappedSharedMemoryRegions().includes(key));
  });

  it('a process that only attached never removes the region', async () => {
    const key = `/${uniqueName('attach')}`;
    const r = createSharedMemoryRegion('t', key, 8);
    setSharedMemoryRegion(r, [new Uint8Array([5])]);
    const child = await runSnippet(
      `const r = nd.createSharedMemoryRegion('t', args[0], 8);
       send({ saw: nd.getContentsAsArray(r, 'uint8', [1])[0], mapped: nd.mappedSharedMemoryRegions() });
       nd.destroySharedMemoryRegion(r);`,
      [key],
    );
    assert.equal(child.code, 0, child.stderr);
    assert.deepEqual(child.messages, [{ saw: 5, mapped: [key] }]);
    assert.equal(exists(key.slice(1)), true);
    destroySharedMemoryRegion(r);
    assert.equal(exists(key.slice(1)), false);
  });

  it('errors carry their codes through isNdshmError', () => {
    try {
      createSharedMemoryRegion('t', '/no such', 8);
    } catch (err) {
      assert.ok(isNdshmError(err, 'EINVAL'));
      assert.match(err.message, /unable to create the shared memory region/);
    }
  });
});
