// Times `iterations` rounds of Segment.open(argv[2]) (the attach) and then close(), separately, after
// `warmup` untimed rounds, and counts the GCs during the timed rounds. Run with NDSHM_COUNTED_BUFFERS=1 it measures the Node-API
// fallback, whose buffers V8 counts as external memory. A full GC just before the timed rounds clears
// the garbage of process startup, whose scavenges would otherwise land in the window by chance.

import { Segment } from '../../src/index.js';
import { forceGc, observeGc } from '../lib/gc.js';

const [name = '', iterationsArg = '200', warmupArg = '20'] = process.argv.slice(2);
const iterations = Number(iterationsArg);
const warmup = Number(warmupArg);

let bytes = 0;
for (let i = 0; i < warmup; i++) {
  const segment = Segment.open(name);
  bytes = segment.byteLength;
  segment.close();
}

// Preallocated, so the loop itself allocates nothing but what open() does.
const samplesUs = new Float64Array(iterations);
const closeUs = new Float64Array(iterations);
forceGc();
const gc = observeGc();
gc.start();
for (let i = 0; i < iterations; i++) {
  const start = performance.now();
  const segment = Segment.open(name);
  const opened = performance.now();
  segment.close();
  closeUs[i] = (performance.now() - opened) * 1000;
  samplesUs[i] = (opened - start) * 1000;
}
gc.end();
const gcs = await gc.collect();

console.log(JSON.stringify({ samplesUs: [...samplesUs], closeUs: [...closeUs], bytes, gcs: gcs.count, majorGcs: gcs.major, gcMs: gcs.totalMs }));
