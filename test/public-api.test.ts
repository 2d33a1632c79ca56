// A snapshot of the public exports: adding or removing one is a visible change to this list.

import assert from 'node:assert/strict';
import { it } from 'node:test';

import * as ndshm from '../src/index.js';

it('exports exactly the public API', () => {
  assert.deepEqual(Object.keys(ndshm).sort(), [
    'Barrier',
    'Counter',
    'Mutex',
    'NdshmError',
    'Segment',
    'SharedMemoryException',
    'SharedMemoryManager',
    'SharedMemoryRegion',
    'SharedNDArray',
    'arraysToShm',
    'createSharedMemoryRegion',
    'destroySharedMemoryRegion',
    'dtype',
    'gc',
    'getContentsAsArray',
    'hdf5ToShm',
    'isNdshmError',
    'listStores',
    'mappedSharedMemoryRegions',
    'maxNameLength',
    'npyToShm',
    'npzToShm',
    'packArrays',
    'releaseArrays',
    'runtimeInfo',
    'sendArrays',
    'setSharedMemoryRegion',
    'shmToArrays',
    'shmToNpy',
    'shmToNpz',
    'unlink',
    'unlinkedArraysToShm',
    'unpackArrays',
  ]);
});
