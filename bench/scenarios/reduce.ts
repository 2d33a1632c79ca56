// A parallel reduction over a 1 GiB float64 array: its sum in 2 fresh worker processes (each opens its
// half by handle) against 1 fresh worker process (the whole array by handle), both paying the same
// first-touch page faults; for reference the same sum in the creator over pages it has mapped
// already, and numpy's a.sum() in a fresh Python process (python/ndshm.py).

import { SharedNDArray, type SharedNDArrayHandle } from '../../src/index.js';
import { Forked, killAll } from '../lib/forked.js';
import { pythonDir } from '../lib/ndshm-python.js';
import { type PythonInfo, pythonInfo, runPython } from '../lib/python.js';
import { type Row, type ScenarioOptions, type ScenarioResult, figure, gbPerSecond, none, num, ratio } from '../lib/report.js';
import { benchName } from '../lib/shm.js';
import { type Summary, median, summarize } from '../lib/stats.js';
import { fillPattern, patternSum, sumFloat64 } from '../lib/sum.js';
import { interleaveAsync, timeMs } from '../lib/timing.js';

export const title = 'Sum a 1 GiB array in parallel processes';
export const order = 70;

// numpy and ndshm.py are imported and the array opened before the clock; the figure is a.sum() alone.
const pythonSum = `
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
import ndshm
a = ndshm.open(sys.argv[2])
start = time.perf_counter()
s = float(a.sum())
ms = (time.perf_counter() - start) * 1e3
print(json.dumps({"ms": ms, "sum": s, "length": int(a.size)}))
`;

interface WorkerResult {
  sum: number;
  length: number;
  openMs: number;
  sumMs: number;
}

interface Parallel {
  /** Dispatch to the last result, measured by the parent. */
  ms: number;
  /** The slowest worker's open and sum, measured inside it. */
  openMs: number;
  sumMs: number;
}

/** Starts `workers` fresh processes, waits until they are ready, then times dispatch to the last result. */
async function parallelSum(array: SharedNDArray, workers: number): Promise<Parallel> {
  const n = array.size;
  const parts = Array.from({ length: workers }, (_, k) => {
    const from = Math.floor((k * n) / workers);
    const to = Math.floor(((k + 1) * n) / workers);
    const handle: SharedNDArrayHandle = workers === 1 ? array.handle : array.slice(`${from}:${to}`).handle;
    return { handle, length: to - from, sum: patternSum(from, to) };
  });
  const children = parts.map(() => new Forked('reduce-worker.js'));
  try {
    await Promise.all(children.map((c) => c.next<{ ready: boolean }>()));
    let last = 0;
    const results = children.map(async (c) => {
      const r = await c.next<WorkerResult>();
      last = performance.now();
      return r;
    });
    const start = performance.now();
    children.forEach((c, k) => c.send({ handle: parts[k]!.handle }));
    const got = await Promise.all(results);
    const ms = last - start;
    got.forEach((r, k) => {
      if (r.sum !== parts[k]!.sum || r.length !== parts[k]!.length) {
        throw new Error(`worker ${k} of ${workers} summed ${r.length} elements to ${r.sum}, expected ${parts[k]!.length} to ${parts[k]!.sum}`);
      }
    });
    await Promise.all(children.map((c) => c.exited()));
    return { ms, openMs: Math.max(...got.map((r) => r.openMs)), sumMs: Math.max(...got.map((r) => r.sumMs)) };
  } finally {
    await killAll(children);
  }
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const bytes = options.quick ? 2 ** 26 : 2 ** 30;
  const runs = options.runs ?? (options.quick ? 3 : 7);
  const sizeText = options.quick ? `${bytes / 2 ** 20} MiB` : '1 GiB';
  const n = bytes / 8;
  const expected = patternSum(0, n);
  const py: PythonInfo | string = pythonInfo();

  const array = SharedNDArray.empty([n], 'float64', { name: benchName('reduce') });
  try {
    const data = array.data as Float64Array;
    fillPattern(data);
    if (sumFloat64(data) !== expected) throw new Error('the creator\'s own sum is wrong'); // also warms the loop up

    const one: Parallel[] = [];
    const two: Parallel[] = [];
    const parent: number[] = [];
    const numpy: number[] = [];
    const trials = [
      async () => void one.push(await parallelSum(array, 1)),
      async () => void two.push(await parallelSum(array, 2)),
      async () => {
        let sum = 0;
        parent.push(timeMs(() => (sum = sumFloat64(data))));
        if (sum !== expected) throw new Error(`the creator summed ${sum}, expected ${expected}`);
      },
    ];
    if (typeof py !== 'string') {
      trials.push(async () => {
        const r = await runPython<{ ms: number; sum: number; length: number }>(pythonSum, [pythonDir, array.name!]);
        if (r.sum !== expected || r.length !== n) throw new Error(`numpy summed ${r.length} elements to ${r.sum}, expected ${n} to ${expected}`);
        numpy.push(r.ms);
      });
    }
    await interleaveAsync(runs, trials);

    const ms = (list: readonly Parallel[]): Summary => summarize(list.map((p) => p.ms));
    const cell = (s: Summary): string => `${figure(s, 'ms')}; ${num(gbPerSecond(bytes, s.median))} GB/s`;
    const twoMs = ms(two);
    const oneMs = ms(one);
    const rows: Row[] = [
      {
        measure:
          `Sum of a ${sizeText} float64 array in 2 fresh worker processes, each opening its half by handle: ` +
          `dispatch to the last result (${runs} runs)`,
        ndshm: cell(twoMs),
        alternative: `1 fresh worker process, the whole array by handle: ${cell(oneMs)}`,
        ratio: `${ratio(twoMs.median, oneMs.median, 'time')}; speed-up 2 vs 1: ${num(oneMs.median / twoMs.median)}×`,
        target: none,
      },
      {
        measure: 'Same',
        ndshm: cell(twoMs),
        alternative: `for reference, the same sum in the creator, over pages it has mapped already (no process, no page faults): ${cell(summarize(parent))}`,
        ratio: ratio(twoMs.median, median(parent), 'time'),
        target: none,
      },
      {
        measure: 'Same',
        ndshm: cell(twoMs),
        alternative:
          typeof py === 'string'
            ? `${none} (${py})`
            : `numpy \`a.sum()\` in a fresh Python process (\`ndshm.open(name)\` before the clock; the sum alone timed, its page faults included): ${cell(summarize(numpy))}`,
        ratio: typeof py === 'string' ? none : ratio(twoMs.median, median(numpy), 'time'),
        target: none,
      },
    ];
    const inside = (list: readonly Parallel[]): string =>
      `open ${num(median(list.map((p) => p.openMs)))} ms, sum ${num(median(list.map((p) => p.sumMs)))} ms`;
    const notes = [
      `The array (\`SharedNDArray.empty\`, element i = i % 1024, so that every partial sum is exact and checked) is made and ` +
        'filled by the runner. Each run starts the worker processes (`child_process.fork`, IPC json) and waits until they ' +
        'have imported the library and run the sum over a private 64 Ki-element array 100 times (so that V8 has compiled ' +
        'it); the clock starts when the handles are sent. A fresh process has none of the array in its ' +
        'page tables, so both variants fault every page in (minor faults: the pages are resident in /dev/shm). The sum is a ' +
        'plain JavaScript loop with four accumulators (bench/lib/sum.ts); GB/s is 10⁹ bytes over the median time.',
      `Inside the workers (medians over runs of the slowest worker): 1 process ${inside(one)}; 2 processes ${inside(two)}. ` +
        `The machine has 2 cores. 1 process, 2 processes, the creator's sum${typeof py === 'string' ? '' : ' and numpy'} ` +
        'alternate, the order reversed every other run.',
    ];
    if (typeof py !== 'string') notes.push(`Python ${py.python}, numpy ${py.numpy}.`);
    return { rows, notes };
  } finally {
    array.release(); // created here: this removes it
  }
}
