// docs/pools.md, "A worked example": a 1 GiB float64 array reduced by a process pool, a Counter the
// workers increment driving a progress bar in the caller.
//
//   node dist/examples/pool-reduce.js            1 GiB, one worker per CPU
//   node dist/examples/pool-reduce.js 64         64 MiB

import { Counter, SharedNDArray, processPool } from '../src/index.js';
import { sumRange } from './pool-reduce-tasks.js';

const mib = Number(process.argv[2] ?? 1024);
const n = (mib * 2 ** 20) / 8;

using a = SharedNDArray.empty([n], 'float64'); // removed when this process ends, however it ends
const data = a.data as Float64Array;
for (let i = 0; i < n; i++) data[i] = i % 1024;

using progress = Counter.create(); // in shared memory: every worker adds to the same count
await using pool = processPool(); // os.availableParallelism() workers (NDSHM_PROCESSES overrides)

const parts = pool.size * 4;
const ranges = Array.from({ length: parts }, (_, k) => [a, Math.floor((k * n) / parts), Math.floor(((k + 1) * n) / parts), progress] as const);
const started = performance.now();
const sums = await pool.starmap(sumRange, ranges, { chunksize: 1, progress: { counter: progress, total: n, label: 'sum ' } });
const total = sums.reduce((x, y) => x + y, 0);
console.log(`sum ${total} of ${n} elements in ${(performance.now() - started).toFixed(0)} ms with ${pool.size} worker processes; counted ${progress.value}`);
