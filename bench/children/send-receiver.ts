// The receiving end of the send scenario, as a worker thread or as a forked child process. Each
// message is {a: packed SharedNDArray handle | Float64Array} or {}; the receiver unpacks it (opening the
// array by its handle), reads the last element and acknowledges with {length, last}, then releases
// what it got. {gc: true} asks for a full GC (after a 1 GiB copy) and is acknowledged with {gc: true}.

import { parentPort } from 'node:worker_threads';

import { SharedNDArray, unpackArrays } from '../../src/index.js';
import { forceGc } from '../lib/gc.js';

type Reply = (message: unknown) => void;

function receive(message: unknown, reply: Reply): void {
  if ((message as { gc?: unknown }).gc === true) {
    forceGc();
    reply({ gc: true });
    return;
  }
  const { a } = unpackArrays<{ a?: SharedNDArray | Float64Array }>(message);
  if (a instanceof SharedNDArray) {
    const data = a.data as Float64Array;
    reply({ length: a.size, last: data[data.length - 1] });
    a.release();
  } else if (a instanceof Float64Array) {
    reply({ length: a.length, last: a[a.length - 1] });
  } else {
    reply({ length: 0 });
  }
}

performance.now(); // loaded before the first message
if (parentPort !== null) {
  const port = parentPort;
  const reply: Reply = (m) => port.postMessage(m);
  port.on('message', (m: unknown) => receive(m, reply));
  reply({ ready: true });
} else {
  const reply: Reply = (m) => void process.send!(m as never);
  process.on('message', (m: unknown) => receive(m, reply));
  process.on('disconnect', () => process.exit(0));
  reply({ ready: true });
}
