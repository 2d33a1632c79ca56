// cute-shm compatibility, against a Python reader and writer written from the format description
// in research/python-anchors.md (cute_shm itself is not installable here): numpy, tomllib and
// multiprocessing.shared_memory only.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, describe, it } from 'node:test';

import { NdshmError, SharedNDArray, type StoreLeaf, type StoreTree, arraysToShm, listStores, releaseArrays, shmToArrays, unlink } from '../../src/index.js';
import { python, pythonMissing } from '../helpers/python.js';
import { shmNames, uniqueName } from '../helpers/shm.js';

const skip = pythonMissing() ?? false;
if (skip) console.log(`# skipping cute-shm interop: ${skip}`);
const root = mkdtempSync(`${tmpdir()}/cute-shm-test-`);
after(() => {
  rmSync(root, { recursive: true, force: true });
  assert.deepEqual(shmNames().filter((n) => n.startsWith('cute-shm.t')), [], 'cute-shm segments left');
});

// cute_shm.shm_to_arrays, reduced to the format: a table with shm_name is an array.
const pyReader = `
import json, sys, tomllib
import numpy as np
from multiprocessing import shared_memory, resource_tracker
def shm_to_arrays(root, project):
    with open(f'{root}/cute-shm.{project}.toml', 'rb') as f:
        toml = tomllib.load(f)
    def walk(t):
        if 'shm_name' in t:
            shm = shared_memory.SharedMemory(name=t['shm_name'])
            resource_tracker.unregister(shm._name, 'shared_memory')
            a = np.ndarray(t['shape'], np.dtype(t['dtype']), buffer=shm.buf).copy()
            shm.close()
            return {'values': a.tolist(), 'dtype': str(a.dtype), 'shape': list(a.shape), 'attrs': t['attrs']}
        return {k: walk(v) for k, v in t.items()}
    return walk(toml)
print(json.dumps(shm_to_arrays(sys.argv[1], sys.argv[2])))
`;

// cute_shm.arrays_to_shm, reduced to the format: segments cute-shm.PROJECT.<10 alnum>, TOML as tomli_w writes it.
const pyWriter = `
import json, random, string, sys
import numpy as np
from multiprocessing import shared_memory, resource_tracker
root, project = sys.argv[1], sys.argv[2]
arrays = {'a': np.arange(9, dtype=np.int64).reshape(3, 3),
          'b': {'b1': np.linspace(0, 1, 5, dtype=np.float32), 'b2': np.array([[1, 2], [3, 4]], dtype='>f4')},
          'flags': np.array([True, False])}
lines = []
def put(path, t):
    for k, v in t.items():
        if isinstance(v, dict):
            put(path + [k], v)
            continue
        name = f'cute-shm.{project}.' + ''.join(random.choice(string.ascii_letters + string.digits) for _ in range(10))
        shm = shared_memory.SharedMemory(name=name, create=True, size=v.nbytes)
        np.ndarray(v.shape, v.dtype, buffer=shm.buf)[...] = v
        resource_tracker.unregister(shm._name, 'shared_memory')
        shm.close()
        key = '.'.join(path + [k])
        lines.append(f'[{key}]\\nshm_name = "{name}"\\nshm_private_name = "/{name}"\\nshape = [\\n' +
                     ''.join(f'    {d},\\n' for d in v.shape) + f']\\ndtype = "{v.dtype}"\\n\\n[{key}.attrs]\\n')
put([], arrays)
with open(f'{root}/cute-shm.{project}.toml', 'w') as f:
    f.write('\\n'.join(lines))
`;

const leaf = (t: StoreTree, ...path: string[]): StoreLeaf => path.reduce<unknown>((n, k) => (n as StoreTree)[k], t) as StoreLeaf;

describe('cute-shm format', { skip }, () => {
  it('Python reads what ndshm wrote, as cute_shm.shm_to_arrays would', () => {
    const project = uniqueName('w').slice(0, 12);
    const be = SharedNDArray.from([[1, 2], [3, 4]], { dtype: '>f4' });
    const w = arraysToShm(project, {
      ints: new Int32Array([1, 2, 3]),
      group: { flags: [true, false], be, deep: { scalar: { data: 2.5, attrs: { unit: 'm', n: 3, list: [1, 2] } } } },
    }, { format: 'cute-shm', cuteShmRoot: root, persistent: true });
    be.release();
    assert.equal(w.toml, `${root}/cute-shm.${project}.toml`);
    assert.deepEqual(readdirSync(root).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
    const out = JSON.parse(python(pyReader, [root, project]));
    assert.deepEqual(out.ints, { values: [1, 2, 3], dtype: 'int32', shape: [3], attrs: {} });
    assert.deepEqual(out.group.flags.values, [true, false]);
    assert.deepEqual(out.group.be, { values: [[1, 2], [3, 4]], dtype: '>f4', shape: [2, 2], attrs: {} });
    assert.deepEqual(out.group.deep.scalar, { values: 2.5, dtype: 'float64', shape: [], attrs: { unit: 'm', n: 3, list: [1, 2] } });
    unlink(project, { format: 'cute-shm', cuteShmRoot: root });
    assert.equal(existsSync(w.toml!), false);
  });

  it('ndshm reads what cute-shm wrote, long project names included', () => {
    const project = `${uniqueName('r')}-a-long-project`; // segment names past 30 characters
    python(pyWriter, [root, project]);
    const t = shmToArrays(project, { cuteShmRoot: root });
    assert.deepEqual(leaf(t, 'a').data.toArray(), [[0n, 1n, 2n], [3n, 4n, 5n], [6n, 7n, 8n]]);
    assert.deepEqual(leaf(t, 'b', 'b2').data.toArray(), [[1, 2], [3, 4]]);
    assert.equal(leaf(t, 'b', 'b2').meta.dtype, '>f4');
    assert.deepEqual(leaf(t, 'flags').data.toArray(), [true, false]);
    assert.equal(leaf(t, 'b', 'b1').data.get(4), 1);
    assert.ok(leaf(t, 'a').meta.segment.length > 30);
    const handle = leaf(t, 'b', 'b1').data.handle; // headerless arrays still travel by handle
    assert.equal(handle.raw, true);
    const again = SharedNDArray.open(handle);
    assert.equal(again.get(4), 1);
    again.release();
    releaseArrays(t);
    const listed = listStores({ cuteShmRoot: root }).find((s) => s.name === project);
    assert.equal(listed?.format, 'cute-shm');
    assert.equal(listed?.intact, true);
    unlink(project, { cuteShmRoot: root });
    assert.throws(() => shmToArrays(project, { cuteShmRoot: root }), (e) => e instanceof NdshmError && e.code === 'ENOENT');
  });

  it('zero-size arrays are a clear error and nothing is left; a linked folder is refused', () => {
    const project = uniqueName('z').slice(0, 12);
    assert.throws(
      () => arraysToShm(project, { ok: [1], empty: new Float64Array(0) }, { format: 'cute-shm', cuteShmRoot: root }),
      (e) => e instanceof NdshmError && e.code === 'EINVAL' && /zero-size/.test(e.message),
    );
    assert.deepEqual(shmNames().filter((n) => n.includes(project)), []);
    const link = `${root}-link`;
    symlinkSync(root, link);
    try {
      assert.throws(() => arraysToShm(project, { a: [1] }, { format: 'cute-shm', cuteShmRoot: link }), (e) => e instanceof NdshmError && e.code === 'EACCES');
    } finally {
      rmSync(link);
    }
  });
});
