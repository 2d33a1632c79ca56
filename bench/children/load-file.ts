// A fresh process that loads a file into a store and reports the time and its memory: argv
// kind ('npy' or 'hdf5'), the big file, a small file of the same kind, the store name, the element
// count. Before the clock it loads the small file once (this starts the cleanup watchdog, imports
// h5wasm for HDF5, and runs the code once) and removes that store; then it times the big load, reads
// VmHWM, checks the data, and removes the store. Prints {ms, rssAfterImport, rssBefore, hwmAfter,
// bytes, segments}.

import { hdf5ToShm, npyToShm, unlink } from '../../src/index.js';
import { checkStore, readStatus } from '../lib/loads.js';

const [kind = '', path = '', smallPath = '', name = '', countArg = '0'] = process.argv.slice(2);
const n = Number(countArg);
const rssAfterImport = readStatus().rss;

async function load(file: string): Promise<number> {
  if (kind === 'npy') return npyToShm(file, name, { key: 'x' }).bytes;
  if (kind === 'hdf5') return (await hdf5ToShm(file, name)).bytes;
  throw new Error(`unknown kind ${kind}`);
}

await load(smallPath);
unlink(name);
performance.now(); // the performance global loads lazily: load it before the clock starts

const rssBefore = readStatus().rss;
const start = performance.now();
let bytes: number;
try {
  bytes = await load(path);
} catch (err) {
  console.error(err);
  process.exit(1);
}
const ms = performance.now() - start;
const hwmAfter = readStatus().hwm;
let segments: string[];
try {
  segments = checkStore(name, 'x', n);
} finally {
  unlink(name);
}
console.log(JSON.stringify({ ms, rssAfterImport, rssBefore, hwmAfter, bytes, segments }));
