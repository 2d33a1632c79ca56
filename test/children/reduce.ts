// Receives { rows, label } over IPC with the array packed, sums each row, writes 100 at rows[-1][0]
// (element [0, 0] of the sender's array) and replies.

import { unpackArrays } from '../../src/index.js';
import type { SharedNDArray } from '../../src/index.js';

process.once('message', (m) => {
  const { rows, label } = unpackArrays<{ rows: SharedNDArray; label: string }>(m);
  const sums = (rows.toArray() as number[][]).map((r) => r.reduce((x, y) => x + y, 0));
  rows.set(-1, 0, 100);
  rows.release();
  process.send!({ label, sums, pid: process.pid }, () => process.disconnect());
});
