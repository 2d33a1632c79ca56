// A fresh process that times its first Segment.open(argv[2]) and prints {us, bytes}. The library is
// imported first (a static import is evaluated before this body), so the figure is the call itself:
// first-call compilation of the JavaScript path and the system calls, not module loading.

import { Segment } from '../../src/index.js';

const name = process.argv[2] ?? '';
performance.now(); // the performance global loads lazily: load it before the clock starts

const start = performance.now();
const segment = Segment.open(name);
const us = (performance.now() - start) * 1000;

const bytes = segment.byteLength;
segment.close();
console.log(JSON.stringify({ us, bytes }));
