// Arrays passed by reference to worker threads and child processes: the handle travels, the bytes
// stay where they are.

import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';

import { SharedNDArray, packArrays, sendArrays, unpackArrays } from '../../src/index.js';
import { childrenDir } from '../helpers/child.js';

const made: SharedNDArray[] = [];
const keep = (a: SharedNDArray): SharedNDArray => (made.push(a), a);
after(() => made.forEach((a) => a.release()));

const indexUrl = new URL('../../src/index.js', import.meta.url).href;

/** A worker that unpacks each message, runs `body` on it and posts the packed result back. */
function worker(body: string): Worker {
  return new Worker(
    `const { parentPort } = require('worker_threads');
     import(${JSON.stringify(indexUrl)}).then((nd) => {
       parentPort.on('message', (m) => {
         const msg = nd.unpackArrays(m);
         const reply = (${body})(msg, nd);
         parentPort.postMessage(nd.packArrays(reply));
       });
       parentPort.postMessage('ready');
     });`,
    { eval: true },
  );
}

function next(w: Worker | ReturnType<typeof fork>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
}

describe('to worker threads', () => {
  it('a view travels by handle; the worker reads and writes the same memory', async () => {
    const a = keep(SharedNDArray.from(new Float64Array(12).map((_, i) => i), { shape: [3, 4] }));
    const w = worker(`(m) => { const v = m.view; v.set(0, 0, -1); return { sum: v.toTypedArray().reduce((x, y) => x + y, 0), shape: v.shape, strides: v.strides }; }`);
    await next(w);
    w.postMessage(packArrays({ view: a.slice('1:', '::-2') }));
    const reply = (await next(w)) as { sum: number; shape: number[]; strides: number[] };
    assert.deepEqual(reply.shape, [2, 2]);
    assert.deepEqual(reply.strides, [4, -2]);
    assert.equal(reply.sum, -1 + 5 + 11 + 9);
    assert.equal(a.get(1, 3), -1, 'the worker wrote into our memory');
    await w.terminate();
  });

  it('nested structures arrive intact, arrays included; arrays come back the same way', async () => {
    const x = keep(SharedNDArray.from([1, 2, 3], { dtype: 'int32' }));
    const y = keep(SharedNDArray.from([[true, false]]));
    const w = worker(`(m, nd) => ({
      same: m.list[1].name === m.x.name && m.map.get('y').name === m.list[0].name,
      types: [m.list[0].constructor.name, m.set.size, m.plain.n, m.list[1].name],
      doubled: nd.SharedNDArray.from(m.x.toTypedArray().map((v) => v * 2), { scope: 'remote' }),
    })`);
    await next(w);
    sendArrays(w, { x, list: [y, x], map: new Map([['y', y]]), set: new Set([x]), plain: { n: 1 } });
    const reply = unpackArrays<{ same: boolean; types: unknown[]; doubled: SharedNDArray }>(await next(w));
    assert.equal(reply.same, true);
    assert.deepEqual(reply.types, ['SharedNDArray', 1, 1, x.name]);
    assert.ok(reply.doubled instanceof SharedNDArray);
    assert.deepEqual(reply.doubled.toArray(), [2, 4, 6]);
    keep(reply.doubled);
    await w.terminate();
  });

  it('posting a SharedNDArray itself (not its handle) fails loudly rather than copying 1 GiB', () => {
    const a = keep(SharedNDArray.zeros([4]));
    assert.throws(() => structuredClone(a));
  });
});

describe('to child processes', () => {
  for (const serialization of ['json', 'advanced'] as const) {
    it(`over child_process IPC (${serialization})`, async () => {
      const a = keep(SharedNDArray.from(new Int32Array([1, 2, 3, 4, 5, 6]), { shape: [2, 3] }));
      const child = fork(`${childrenDir}reduce.js`, [], { serialization });
      child.send(packArrays({ rows: a.slice('::-1'), label: 'sum' }));
      const reply = (await next(child)) as { label: string; sums: number[]; pid: number };
      assert.deepEqual(reply, { label: 'sum', sums: [15, 6], pid: child.pid });
      assert.equal(a.get(0, 0), 100, 'the child wrote into our memory');
      await new Promise((resolve) => child.once('exit', resolve));
    });
  }
});
