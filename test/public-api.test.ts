// A snapshot of the public exports: adding or removing one is a visible change to this list.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as ndshm from '../src/index.js';

it('exports exactly the public API', () => {
  assert.deepEqual(Object.keys(ndshm).sort(), [
    'Barrier',
    'Counter',
    'HostGroup',
    'HostSharedMemory',
    'LocalNdarray',
    'Mutex',
    'NdshmError',
    'ResourceAllocation',
    'Segment',
    'SerialPool',
    'SharedMemoryException',
    'SharedMemoryManager',
    'SharedMemoryRegion',
    'SharedNDArray',
    'arraysToShm',
    'cleanupSharedNdarray',
    'createSharedMemoryRegion',
    'createSharedNdarray',
    'defineTask',
    'destroySharedMemoryRegion',
    'dtype',
    'gc',
    'getContentsAsArray',
    'globRead',
    'globRemove',
    'globStore',
    'globStoreAttributes',
    'globStored',
    'globUpdate',
    'groupPool',
    'hdf5ToShm',
    'isNdshmError',
    'listStores',
    'mappedSharedMemoryRegions',
    'maxNameLength',
    'noParallel',
    'npyToShm',
    'npzToShm',
    'packArrays',
    'parallelEnabled',
    'poolGroup',
    'processPool',
    'releaseArrays',
    'runtimeInfo',
    'sendArrays',
    'setSharedMemoryRegion',
    'sharedMemIsEnabled',
    'shmToArrays',
    'shmToNpy',
    'shmToNpz',
    'threadPool',
    'unlink',
    'unlinkedArraysToShm',
    'unpackArrays',
  ]);
});

it('the published declarations hold no internals', () => {
  const read = (file: string): string => readFileSync(fileURLToPath(new URL(`../src/${file}`, import.meta.url)), 'utf8');
  const checks: [string, RegExp][] = [
    ['ndarray/array.d.ts', /\b(fillFrom|copyInto)\(|constructor\(block/],
    ['ndarray/open.d.ts', /\bmanager\?/],
    ['ndarray/create.d.ts', /interface ArrayCreateOptions[^}]*\bmanager\?/],
    ['regions/triton.d.ts', /\b(segmentName|checkedSegment|detach)\b/],
    ['segment/segment.d.ts', /\bstatic (openForeign|createForeign)\b/],
    ['group/host-group.d.ts', /\b(exchange|usable|hostCounters)\b/],
  ];
  for (const [file, internal] of checks) assert.doesNotMatch(read(file), internal, file);
  for (const file of ['index.d.ts', 'ndarray/array.d.ts', 'regions/triton.d.ts', 'segment/segment.d.ts', 'group/host-group.d.ts', 'group/shared.d.ts', 'group/local.d.ts']) {
    assert.doesNotMatch(read(file), /@internal/, file);
  }
  assert.match(read('ndarray/array.d.ts'), /private constructor\(\);/);
  assert.match(read('segment/segment.d.ts'), /private constructor\(\);/);
  for (const file of ['group/host-group.d.ts', 'group/shared.d.ts', 'group/local.d.ts']) assert.match(read(file), /private constructor\(\);/, file);
});

it('docs/errors.md documents exactly the codes NdshmErrorCode has', () => {
  const source = readFileSync(fileURLToPath(new URL('../../src/errors.ts', import.meta.url)), 'utf8');
  const union = source.slice(source.indexOf('export type NdshmErrorCode'), source.indexOf(';', source.indexOf('export type NdshmErrorCode')));
  const codes = [...union.matchAll(/'(E[A-Z]+)'/g)].map((m) => m[1]).sort();
  const docs = readFileSync(fileURLToPath(new URL('../../docs/errors.md', import.meta.url)), 'utf8');
  const documented = [...docs.matchAll(/^\| `(E[A-Z]+)` \|/gm)].map((m) => m[1]).sort();
  assert.deepEqual(documented, codes);
});
