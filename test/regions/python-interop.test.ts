// Regions against the real python3 + numpy: what one side writes, the other reads.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';

import { createSharedMemoryRegion, destroySharedMemoryRegion, getContentsAsArray, setSharedMemoryRegion } from '../../src/index.js';
import { python, pythonMissing } from '../helpers/python.js';
import { exists, uniqueName } from '../helpers/shm.js';

const skip = pythonMissing() ?? false;
if (skip) console.log(`# skipping Python interop: ${skip}`);

// Attach without letting CPython's resource tracker unlink the segment at exit (python/cpython#82300).
const attach = `
import json, struct, sys
import numpy as np
from multiprocessing import shared_memory, resource_tracker
def attach(key):
    shm = shared_memory.SharedMemory(key)
    if sys.version_info < (3, 13):
        resource_tracker.unregister(shm._name, 'shared_memory')
    return shm
`;

// tritonclient.utils.serialize_byte_tensor / deserialize_bytes_tensor, reduced to numpy + stdlib.
const tritonBytes = `
def serialize_byte_tensor(t):
    out = []
    for obj in np.nditer(t, flags=['refs_ok'], order='C'):
        item = obj.item()
        s = item if type(item) == bytes else str(item).encode('utf-8')
        out.append(struct.pack('<I', len(s)))
        out.append(s)
    return b''.join(out)
def deserialize_bytes_tensor(buf, count):
    strs, offset = [], 0
    for _ in range(count):
        l = struct.unpack_from('<I', buf, offset)[0]; offset += 4
        strs.append(bytes(buf[offset:offset + l])); offset += l
    return np.array(strs, dtype=np.object_)
`;

describe('regions with Python numpy', { skip }, () => {
  it('numpy reads what ndshm wrote', () => {
    const key = `/${uniqueName('py-read')}`;
    const r = createSharedMemoryRegion('t', key, 256);
    setSharedMemoryRegion(r, [new Float32Array([0.5, -1.5, 3]), new BigInt64Array([123456789012n])], 0);
    const out = python(
      `${attach}
shm = attach(sys.argv[1])
a = np.ndarray((3,), dtype=np.float32, buffer=shm.buf, offset=0)
b = np.ndarray((1,), dtype=np.int64, buffer=shm.buf, offset=12)
print(json.dumps({'a': a.tolist(), 'b': int(b[0])}))
del a, b
shm.close()`,
      [key],
    );
    assert.deepEqual(JSON.parse(out), { a: [0.5, -1.5, 3], b: 123456789012 });
    destroySharedMemoryRegion(r);
  });

  it('ndshm reads what numpy wrote into a region numpy created', async () => {
    const key = uniqueName('py-write');
    const proc = spawn('python3', [
      '-c',
      `${attach}
from multiprocessing import shared_memory
shm = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=64)
a = np.ndarray((2, 3), dtype=np.float64, buffer=shm.buf)
a[:] = [[1, 2, 3], [4, 5, 6.25]]
print('ready', flush=True)
sys.stdin.readline()
del a
shm.close(); shm.unlink()`,
      key,
    ]);
    await new Promise<void>((resolve) => proc.stdout.once('data', () => resolve()));
    const r = createSharedMemoryRegion('t', `/${key}`, 48);
    assert.deepEqual([...(getContentsAsArray(r, 'float64', [2, 3]) as Float64Array)], [1, 2, 3, 4, 5, 6.25]);
    destroySharedMemoryRegion(r); // only attached: must not remove numpy's region
    assert.equal(exists(key), true);
    proc.stdin.end('done\n');
    await new Promise((resolve) => proc.on('close', resolve));
    assert.equal(exists(key), false);
  });

  it('BYTES: ndshm decodes what Triton\'s serializer wrote, numpy decodes what ndshm wrote', () => {
    const key = `/${uniqueName('py-bytes')}`;
    const r = createSharedMemoryRegion('t', key, 512);
    python(
      `${attach}${tritonBytes}
shm = attach(sys.argv[1])
t = np.array([[b'alpha', 'b\\u00e9ta'], [b'', b'\\x00\\xff\\x10']], dtype=np.object_)
flat = serialize_byte_tensor(t)
shm.buf[:len(flat)] = flat
shm.close()`,
      [key],
    );
    const fromPython = getContentsAsArray(r, 'BYTES', [2, 2]) as Uint8Array[];
    assert.deepEqual(
      fromPython.map((b) => [...b]),
      [[...Buffer.from('alpha')], [...Buffer.from('béta', 'utf8')], [], [0, 255, 16]],
    );
    setSharedMemoryRegion(r, [['one', new Uint8Array([1, 2, 3]), '', 'ünï']], 0);
    const out = python(
      `${attach}${tritonBytes}
shm = attach(sys.argv[1])
t = deserialize_bytes_tensor(shm.buf, 4)
print(json.dumps([list(x) for x in t]))
del t
shm.close()`,
      [key],
    );
    assert.deepEqual(JSON.parse(out), [[...Buffer.from('one')], [1, 2, 3], [], [...Buffer.from('ünï', 'utf8')]]);
    destroySharedMemoryRegion(r);
  });
});
