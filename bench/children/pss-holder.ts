// One process of the pss scenario, forked with an IPC channel. argv[2] says what it holds:
//   shared HANDLE   opens the array by its handle (JSON) and sums all of it (so every page is mapped)
//   private N       fills a private Float64Array of N elements (i % 1024, as the shared one) and sums it
//   idle            nothing: Node and the imported library alone
// It then sends {ready, sum} and waits. On 'report' it sends its /proc/self/smaps_rollup while still
// holding what it holds; on 'exit' it releases it and exits.

import { SharedNDArray, type SharedNDArrayHandle } from '../../src/index.js';
import { readSmaps } from '../lib/smaps.js';
import { fillPattern, sumFloat64 } from '../lib/sum.js';

const [mode = '', arg = ''] = process.argv.slice(2);
let shared: SharedNDArray | undefined;
let owned: Float64Array | undefined;
let sum = 0;
if (mode === 'shared') {
  shared = SharedNDArray.open(JSON.parse(arg) as SharedNDArrayHandle);
  sum = sumFloat64(shared.data as Float64Array);
} else if (mode === 'private') {
  owned = new Float64Array(Number(arg));
  fillPattern(owned);
  sum = sumFloat64(owned);
} else if (mode !== 'idle') {
  throw new Error(`pss-holder: unknown mode ${JSON.stringify(mode)}`);
}

process.on('message', (m: unknown) => {
  if (m === 'report') {
    process.send!({ smaps: readSmaps(), length: shared?.size ?? owned?.length ?? 0 });
  } else if (m === 'exit') {
    shared?.release();
    owned = undefined;
    process.disconnect();
  }
});
process.send!({ ready: true, sum });
