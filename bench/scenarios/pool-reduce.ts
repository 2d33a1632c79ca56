// A parallel reduction of a 1 GiB float64 array by a process pool: processPool({ size: 2 }) summing
// the two halves (pool.map over two views, by handle) against processPool({ size: 1 }) summing the
// whole array. Warm pools: the workers have compiled the sum and mapped the array (their attach
// caches keep it), so the figure is the sum in parallel, not process start-up or page faults.

import { SharedNDArray, processPool } from '../../src/index.js';
import { loadNote, warm } from '../lib/pools.js';
import { type Row, type ScenarioOptions, type ScenarioResult, figure, gbPerSecond, num, ratio, target } from '../lib/report.js';
import { benchName } from '../lib/shm.js';
import { summarize } from '../lib/stats.js';
import { fillPattern, patternSum } from '../lib/sum.js';

export const title = 'Sum a 1 GiB array with a process pool of 2 workers against 1';
export const order = 92;

const tasks = new URL('../children/pool-tasks.js', import.meta.url).href;
const sum = { module: tasks, name: 'sum' };
const warmSum = { module: tasks, name: 'warmSum' };
const speedupTarget = 1.9;

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const load = loadNote();
  const bytes = options.quick ? 2 ** 26 : 2 ** 30;
  const runs = options.runs ?? (options.quick ? 3 : 9);
  const n = bytes / 8;
  const array = SharedNDArray.empty([n], 'float64', { name: benchName('reduce-pool') });
  fillPattern(array.data as Float64Array);
  const expected = patternSum(0, n);
  const halves = [array.slice(`0:${n / 2}`), array.slice(`${n / 2}:`)];
  const two = processPool({ size: 2 });
  const one = processPool({ size: 1 });
  try {
    // Both workers of `two` compile the sum and touch the whole array (each may get either half).
    for (const pool of [two, one]) {
      await pool.map(warmSum, [0, 1], { chunksize: 1 });
      for (let i = 0; i < 3; i++) await pool.map(sum, [array, array], { chunksize: 1 });
    }
    await warm(() => two.map(sum, halves, { chunksize: 1 }), 2);
    const parallel: number[] = [];
    const single: number[] = [];
    const trials = [
      async () => {
        const start = performance.now();
        const parts = await two.map(sum, halves, { chunksize: 1 });
        parallel.push(performance.now() - start);
        if ((parts[0] as number) + (parts[1] as number) !== expected) throw new Error(`2 workers summed ${parts}, expected ${expected}`);
      },
      async () => {
        const start = performance.now();
        const s = await one.apply(sum, [array]);
        single.push(performance.now() - start);
        if (s !== expected) throw new Error(`1 worker summed ${s}, expected ${expected}`);
      },
    ];
    for (let r = 0; r < runs; r++) for (const t of r % 2 === 0 ? trials : [...trials].reverse()) await t();
    const p = summarize(parallel);
    const s = summarize(single);
    const speedup = s.median / p.median;
    const cell = (x: typeof p): string => `${figure(x, 'ms')}; ${num(gbPerSecond(bytes, x.median))} GB/s`;
    const rows: Row[] = [
      {
        measure: `Sum of a ${options.quick ? '64 MiB' : '1 GiB'} float64 array: \`processPool({ size: 2 }).map(sum, [lo, hi])\`, halves by handle (${runs} runs)`,
        ndshm: cell(p),
        alternative: `\`processPool({ size: 1 }).apply(sum, [array])\`: ${cell(s)}`,
        ratio: `${ratio(p.median, s.median, 'time')}; speed-up 2 vs 1: ${num(speedup)}×`,
        target: target(`≥ ${speedupTarget}× speed-up`, speedup >= speedupTarget),
      },
    ];
    return {
      rows,
      notes: [
        load,
        'The sum is the plain JavaScript loop of the reduce scenario (bench/lib/sum.ts); element i is i % 1024, so every partial sum is ' +
          'exact and checked. Before the clock, every worker compiled the loop and summed the whole array three times (its mapping ' +
          'stays in the worker\'s attach cache, page tables included). The time is from the call to the result; the two pools ' +
          'alternate, the order reversed every other run. The machine has 2 cores: the 2-worker pool uses both.',
      ],
    };
  } finally {
    await two.terminate();
    await one.terminate();
    array.release();
  }
}
