// Times `iterations` rounds of SharedNDArray.open(handle) (argv[2], JSON) and then release(),
// separately, after `warmup` untimed rounds, and counts the GCs during the timed rounds (as
// attach-loop.ts does for Segment.open). A full GC just before the timed rounds clears the garbage of
// process startup, whose scavenges would otherwise land in the window by chance.

import { SharedNDArray, type SharedNDArrayHandle } from '../../src/index.js';
import { forceGc, observeGc } from '../lib/gc.js';

const [handleArg = 'null', iterationsArg = '200', warmupArg = '20'] = process.argv.slice(2);
const handle = JSON.parse(handleArg) as SharedNDArrayHandle;
const iterations = Number(iterationsArg);
const warmup = Number(warmupArg);

let bytes = 0;
for (let i = 0; i < warmup; i++) {
  const array = SharedNDArray.open(handle);
  bytes = array.nbytes;
  array.release();
}

// Preallocated, so the loop itself allocates nothing but what open() and release() do.
const samplesUs = new Float64Array(iterations);
const closeUs = new Float64Array(iterations);
forceGc();
const gc = observeGc();
gc.start();
for (let i = 0; i < iterations; i++) {
  const start = performance.now();
  const array = SharedNDArray.open(handle);
  const opened = performance.now();
  array.release();
  closeUs[i] = (performance.now() - opened) * 1000;
  samplesUs[i] = (opened - start) * 1000;
}
gc.end();
const gcs = await gc.collect();

console.log(JSON.stringify({ samplesUs: [...samplesUs], closeUs: [...closeUs], bytes, gcs: gcs.count, majorGcs: gcs.major, gcMs: gcs.totalMs }));
