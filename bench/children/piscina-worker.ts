// piscina's worker for the pool benchmarks: an empty task, a 1 MiB ArrayBuffer moved there and back,
// and an ndshm handle opened from a cache (what a user would write around piscina).

import { Piscina } from 'piscina';

import { SharedNDArray, type SharedNDArrayHandle } from '../../src/index.js';

const cache = new Map<string, SharedNDArray>();

export default function task(m: { kind: 'empty' } | { kind: 'move'; buf: ArrayBuffer } | { kind: 'handle'; h: SharedNDArrayHandle }): unknown {
  if (m.kind === 'empty') return 0;
  if (m.kind === 'move') {
    new Uint8Array(m.buf)[0] = 1;
    return Piscina.move(m.buf);
  }
  let a = cache.get(m.h.name);
  if (a === undefined) {
    a = SharedNDArray.open(m.h);
    cache.set(m.h.name, a);
  }
  return a.get(0);
}
