// A fresh process that times its first SharedNDArray.open(handle) and prints {us, bytes}. The library
// is imported (a static import is evaluated before this body) and the handle parsed from argv[2]
// before the clock starts, so the figure is the open itself: the first execution of the JavaScript
// open path in this process (checks of the handle and header, the view) and the attach's system calls.

import { SharedNDArray, type SharedNDArrayHandle } from '../../src/index.js';

const handle = JSON.parse(process.argv[2] ?? 'null') as SharedNDArrayHandle;
performance.now(); // the performance global loads lazily: load it before the clock starts

const start = performance.now();
const array = SharedNDArray.open(handle);
const us = (performance.now() - start) * 1000;

const bytes = array.nbytes;
array.release();
console.log(JSON.stringify({ us, bytes }));
