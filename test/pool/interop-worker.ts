// The worker of the interop tests, for piscina and tinypool (a default export): arrays arrive as
// handles inside the message (packArrays), the task writes into the caller's array and returns a new
// one made with scope 'remote', so that the caller adopts it.

import { SharedNDArray, packArrays, unpackArrays } from '../../src/index.js';

export default function fillAndMake(message: unknown): unknown {
  const { a, v } = unpackArrays<{ a: SharedNDArray; v: number }>(message);
  a.fill(v);
  const made = SharedNDArray.from([v, v + 1], { scope: 'remote' });
  const out = packArrays({ made });
  a.release();
  made.release(); // a 'remote' array: its release leaves it for the caller
  return out;
}
