// LocalNdarray: a part of a host array that knows its place, travelling by handle to another process
// and to Python (python/ndshm.py open_local, a LocalArray that pickles as a reference).

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

import { LocalNdarray, NdshmError, ResourceAllocation, SharedNDArray, cleanupSharedNdarray, createSharedNdarray } from '../../src/index.js';
import { spawnSnippet } from '../helpers/child.js';
import { python, pythonMissing } from '../helpers/python.js';
import { members } from './util.js';

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return e instanceof NdshmError ? e.code : `not an NdshmError: ${String(e)}`;
  }
  return 'no error';
};

const pyDir = fileURLToPath(new URL('../../../python/', import.meta.url));

describe('LocalNdarray', () => {
  it('fromHost: every slice form, resolved as Python would; the part is a view', () => {
    using host = SharedNDArray.from(Array.from({ length: 6 }, (_, i) => Array.from({ length: 5 }, (_, j) => 10 * i + j)), { dtype: 'int32' });
    const part = LocalNdarray.fromHost(host, ['1:4', [0, 5, 2]], { ownerRank: 3 });
    assert.deepEqual(part.slicesIntoHostArray, [{ start: 1, stop: 4, step: 1 }, { start: 0, stop: 6, step: 2 }]);
    assert.deepEqual(part.array.toArray(), [[10, 12, 14], [20, 22, 24], [30, 32, 34]]);
    assert.equal(part.ownerRank, 3);
    part.array.set(0, 0, -1);
    assert.equal(host.get(1, 0), -1, 'the same memory');
    assert.deepEqual(LocalNdarray.fromHost(host, [{ start: -2 }, null]).array.shape, [2, 5]);
    const reversed = LocalNdarray.fromHost(host, ['::-1']);
    assert.deepEqual(reversed.slicesIntoHostArray[0], { start: 5, stop: null, step: -1 }, 'a negative step to the start: stop null');
    assert.equal(reversed.array.get(0, 1), 51);
    assert.deepEqual(LocalNdarray.fromHost(host, [[2, 2]]).array.shape, [0, 5]);
    for (const bad of [[1], ['1'], ['1:2', ':', ':'], ['a:b'], [[1, 2, 0]], [{ begin: 1 }], [[1]], 'x'] as unknown[]) {
      assert.equal(codeOf(() => LocalNdarray.fromHost(host, bad as string[])), 'EINVAL', JSON.stringify(bad));
    }
    assert.equal(codeOf(() => LocalNdarray.fromHost(host, [], { ownerRank: -1 })), 'EINVAL');
    assert.equal(codeOf(() => LocalNdarray.fromHost(new Float64Array(2) as unknown as SharedNDArray, [])), 'EINVAL');
  });

  it('forRank splits like numpy.array_split, along any axis', () => {
    using host = SharedNDArray.zeros([10, 7], 'float64');
    for (const [size, axis] of [[3, 0], [4, 1], [12, 0], [1, 1]] as const) {
      const parts = Array.from({ length: size }, (_, r) => LocalNdarray.forRank(host, r, size, { axis }));
      const lengths = parts.map((p) => p.array.shape[axis]);
      const n = host.shape[axis]!;
      assert.deepEqual(lengths, Array.from({ length: size }, (_, r) => Math.floor(n / size) + (r < n % size ? 1 : 0)));
      let next = 0;
      for (const [r, p] of parts.entries()) {
        assert.equal(p.ownerRank, r);
        assert.equal(p.slicesIntoHostArray[axis]!.start, next);
        next = p.slicesIntoHostArray[axis]!.stop!;
      }
      assert.equal(next, n);
    }
    assert.equal(codeOf(() => LocalNdarray.forRank(host, 2, 2)), 'EINVAL');
    assert.equal(codeOf(() => LocalNdarray.forRank(host, 0, 0)), 'EINVAL');
    assert.equal(codeOf(() => LocalNdarray.forRank(host, 0, 2, { axis: 2 })), 'EINVAL');
  });

  it('travels by handle: JSON, another process writing its part; forged handles are refused; release', async () => {
    using host = SharedNDArray.zeros([4, 3], 'float32');
    const part = LocalNdarray.forRank(host, 1, 2);
    const handle = JSON.parse(JSON.stringify(part.handle));
    const again = LocalNdarray.open(handle);
    assert.deepEqual(again.slicesIntoHostArray, part.slicesIntoHostArray);
    assert.equal(again.ownerRank, 1);
    again.array.fill(2);
    assert.equal(host.get(3, 2), 2);
    again.release();
    assert.equal(again.released, true);
    assert.equal(host.released, false, 'releasing an opened part leaves other mappings alone');
    part.release();
    assert.equal(host.released, false, 'a part made from a host array never releases it');

    const child = spawnSnippet(`const p = nd.LocalNdarray.open(JSON.parse(args[0])); p.array.fill(p.ownerRank + 5); send({ shape: p.array.shape, slices: p.slicesIntoHostArray }); p.release();`, [JSON.stringify(LocalNdarray.forRank(host, 0, 2).handle)]);
    assert.deepEqual(await child.message(), { shape: [2, 3], slices: [{ start: 0, stop: 2, step: 1 }, { start: 0, stop: 3, step: 1 }] });
    assert.equal((await child.exited).code, 0);
    assert.deepEqual(host.toArray(), [[5, 5, 5], [5, 5, 5], [2, 2, 2], [2, 2, 2]]);

    const forged = [
      { ...handle, slices: [[0, 9, 1], [0, 3, 1]] },
      { ...handle, slices: [[0, 2, 1]] },
      { ...handle, slices: [[0, 2, 0], [0, 3, 1]] },
      { ...handle, ownerRank: 'x' },
      { ...handle, kind: 'array' },
      { ...handle, host: { ...handle.host, id: '0000000000000001' } },
    ];
    assert.deepEqual(forged.map((h) => codeOf(() => LocalNdarray.open(h))), ['EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'ENOENT']);
    assert.equal(LocalNdarray.isHandle(handle), true);
    assert.equal(LocalNdarray.isHandle(host.handle), false);
  });

  it('of a private array: usable, but it has no handle', async () => {
    const [a] = await createSharedNdarray(null, [4, 2], 'int8');
    const part = LocalNdarray.forRank(a, 0, 2);
    part.array.fill(1);
    assert.equal(a.get(1, 1), 1);
    assert.equal(codeOf(() => part.handle), 'EINVAL');
  });

  it('Python opens a host-group array and a LocalNdarray by handle, writes into its part; a LocalArray pickles as a reference', { skip: pythonMissing() }, async () => {
    const [g0, g1] = await members(2);
    const made = await Promise.all([g0, g1].map((g) => createSharedNdarray(new ResourceAllocation({ hostGroup: g }), [4, 3], 'float64')));
    const [host, shm] = made[0]!;
    host.slice(0).fill(7);
    const local = LocalNdarray.forRank(host, 1, 2);
    const out = python(
      `
import json, pickle, sys
sys.path.insert(0, sys.argv[1])
import ndshm
whole = ndshm.open(json.loads(sys.argv[2]))
part = ndshm.open_local(json.loads(sys.argv[3]))
part[:] = 9
assert isinstance(part, ndshm.LocalArray)
back = pickle.loads(pickle.dumps(part))
back[0, 0] = 11
copy = pickle.loads(pickle.dumps(part[1:]))
copy[:] = -1
also = ndshm.open(json.loads(sys.argv[3]))
print(json.dumps({'row0': whole[0].tolist(), 'owner': part.owner_rank, 'slices': [[s.start, s.stop, s.step] for s in part.slices_into_host_array],
  'host_shape': list(part.host_array.shape), 'same': part.handle == json.loads(sys.argv[3]), 'back': type(back).__name__, 'also': also.shape == part.shape}))
try:
    ndshm.open_local(dict(json.loads(sys.argv[3]), slices=[[0, 9, 1], [0, 3, 1]]))
    print('forged slices accepted')
except ValueError:
    print('forged slices refused')
`,
      [pyDir, JSON.stringify(shm!.handle), JSON.stringify(local.handle)],
    );
    const [json, forged] = out.trim().split('\n');
    assert.deepEqual(JSON.parse(json!), { row0: [7, 7, 7], owner: 1, slices: [[2, 4, 1], [0, 3, 1]], host_shape: [4, 3], same: true, back: 'LocalArray', also: true });
    assert.equal(forged, 'forged slices refused');
    assert.deepEqual(made[1]![0].toArray(), [[7, 7, 7], [0, 0, 0], [11, 9, 9], [9, 9, 9]], 'Python\'s writes, seen by the other member; the pickled copy stayed a copy');
    await Promise.all(made.map(([, s]) => cleanupSharedNdarray(s)));
    await g0.close();
    await g1.close();
  });
});
