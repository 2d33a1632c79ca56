// Opening a store of many small arrays, for the store-open scenario. argv: mode, target, count,
// iterations, warmup, cute-shm root.
//   mode 'ndshm':    shmToArrays(target), an ndshm store;
//   mode 'cute-shm': shmToArrays(target, {format: 'cute-shm', cuteShmRoot}), one segment per array;
//   mode 'segments': SharedNDArray.open(`${target}${i}`) for i < count, each array its own segment.
// iterations 0: a fresh process; the first open alone is timed (the library imported before the
// clock). Otherwise a warm loop: `warmup` untimed rounds and a full GC, then `iterations` rounds with
// the open and the release timed separately and the GCs counted. Every array's first element is
// checked (untimed) against its index: element 0 of array i is 8 i. Prints one JSON line.

import { SharedNDArray, type StoreTree, releaseArrays, shmToArrays } from '../../src/index.js';
import { forceGc, observeGc } from '../lib/gc.js';

const [mode = '', target = '', countArg = '0', iterationsArg = '0', warmupArg = '0', root = ''] = process.argv.slice(2);
const count = Number(countArg);
const iterations = Number(iterationsArg);
const warmup = Number(warmupArg);
const names = mode === 'segments' ? Array.from({ length: count }, (_, i) => `${target}${i}`) : [];

type Opened = { kind: 'tree'; tree: StoreTree } | { kind: 'arrays'; arrays: SharedNDArray[] };

function open(): Opened {
  if (mode === 'ndshm') return { kind: 'tree', tree: shmToArrays(target, { format: 'ndshm' }) };
  if (mode === 'cute-shm') return { kind: 'tree', tree: shmToArrays(target, { format: 'cute-shm', cuteShmRoot: root }) };
  if (mode === 'segments') {
    const arrays = new Array<SharedNDArray>(count);
    for (let i = 0; i < count; i++) arrays[i] = SharedNDArray.open(names[i]!);
    return { kind: 'arrays', arrays };
  }
  throw new Error(`unknown mode ${mode}`);
}

function release(o: Opened): void {
  if (o.kind === 'tree') releaseArrays(o.tree);
  else for (const a of o.arrays) a.release();
}

/** Checks every array (groups g0..g99 of arrays a0..a99 in a store; by index for segments). */
function check(o: Opened): void {
  let seen = 0;
  const expect = (a: SharedNDArray, i: number): void => {
    const first = (a.data as Float64Array)[0];
    if (a.size !== 8 || first !== 8 * i) throw new Error(`array ${i}: ${a.size} elements, first ${first}; expected 8, ${8 * i}`);
    seen++;
  };
  if (o.kind === 'arrays') o.arrays.forEach(expect);
  else {
    for (const [g, group] of Object.entries(o.tree)) {
      for (const [k, leaf] of Object.entries(group as StoreTree)) expect((leaf as { data: SharedNDArray }).data, Number(g.slice(1)) * 100 + Number(k.slice(1)));
    }
  }
  if (seen !== count) throw new Error(`opened ${seen} arrays, expected ${count}`);
}

performance.now(); // the performance global loads lazily: load it before the clock starts
if (iterations === 0) {
  const start = performance.now();
  const opened = open();
  const ms = performance.now() - start;
  check(opened);
  release(opened);
  console.log(JSON.stringify({ ms }));
} else {
  for (let i = 0; i < warmup; i++) {
    const o = open();
    if (i === 0) check(o);
    release(o);
  }
  const openMs = new Float64Array(iterations);
  const releaseMs = new Float64Array(iterations);
  forceGc();
  const gc = observeGc();
  gc.start();
  for (let i = 0; i < iterations; i++) {
    const start = performance.now();
    const o = open();
    const opened = performance.now();
    release(o);
    releaseMs[i] = performance.now() - opened;
    openMs[i] = opened - start;
  }
  gc.end();
  const gcs = await gc.collect();
  console.log(JSON.stringify({ openMs: [...openMs], releaseMs: [...releaseMs], gcs: gcs.count, majorGcs: gcs.major, gcMs: gcs.totalMs }));
}
