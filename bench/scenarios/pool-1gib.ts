// A 1 GiB float64 array through a pool's map: ndshm's processPool and threadPool passing a
// SharedNDArray (by handle) against the same pool passing the elements as a Float64Array (structured
// clone: child-process IPC with serialization 'advanced', or postMessage to a worker thread).

import { setTimeout as sleep } from 'node:timers/promises';

import { type Pool, SharedNDArray, processPool, threadPool } from '../../src/index.js';
import { forceGc } from '../lib/gc.js';
import { loadNote, warm } from '../lib/pools.js';
import { type Row, type ScenarioOptions, type ScenarioResult, figure, num, ratio, target } from '../lib/report.js';
import { benchName } from '../lib/shm.js';
import { summarize } from '../lib/stats.js';
import { fillPattern } from '../lib/sum.js';

export const title = 'A 1 GiB array through a pool map';
export const order = 91;

const tasks = new URL('../children/pool-tasks.js', import.meta.url).href;
const last = { module: tasks, name: 'last' };
const collect = { module: tasks, name: 'collect' };
const speedupTarget = 1000;
const settleMs = 500;

function sizeText(bytes: number): string {
  return bytes >= 2 ** 30 ? `${bytes / 2 ** 30} GiB` : `${bytes / 2 ** 20} MiB`;
}

async function timed(pool: Pool, item: unknown, expected: number): Promise<number> {
  const start = performance.now();
  const [got] = await pool.map(last, [item as Float64Array]);
  const ms = performance.now() - start;
  if (got !== expected) throw new Error(`the task read ${got}, expected ${expected}`);
  return ms;
}

async function settle(pool: Pool): Promise<void> {
  await pool.apply(collect, []);
  forceGc();
  await sleep(settleMs);
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const load = loadNote();
  const bytes = options.quick ? 2 ** 26 : 2 ** 30;
  const copyRuns = options.runs ?? (options.quick ? 2 : 3);
  const perRound = options.quick ? 2 : 5;
  const n = bytes / 8;
  const source = new Float64Array(n);
  fillPattern(source);
  const expected = source[n - 1]!;
  const array = SharedNDArray.empty([n], 'float64', { name: benchName('map1g') });
  fillPattern(array.data as Float64Array);
  const pools = [
    { label: '`processPool`', alt: "the same map with a Float64Array (child-process IPC, serialization 'advanced')", pool: processPool({ size: 1 }) },
    { label: '`threadPool`', alt: 'the same map with a Float64Array (postMessage: structured clone)', pool: threadPool({ size: 1 }) },
  ];
  try {
    const rows: Row[] = [];
    for (const { label, alt, pool } of pools) {
      await warm(() => pool.map(last, [array]), 20);
      await warm(() => pool.map(last, [source.subarray(0, 1024).slice()]), 20);
      // An untimed first copy (first touch of the memory on both sides; if the full size fails, halves).
      let copyBytes = bytes;
      let copy = source;
      const failures: string[] = [];
      for (;;) {
        try {
          await timed(pool, copy, copy[copy.length - 1]!);
          break;
        } catch (err) {
          failures.push(`${sizeText(copyBytes)} failed: ${(err as Error).message.split('\n')[0]}`);
          copyBytes /= 2;
          if (copyBytes < 2 ** 26) throw new Error(`no copy of 64 MiB or more got through ${label}: ${failures.join('; ')}`);
          copy = source.slice(0, copyBytes / 8);
        }
      }
      await settle(pool);
      const ours: number[] = [];
      const copies: number[] = [];
      for (let r = 0; r < copyRuns; r++) {
        const trials = [
          async () => {
            for (let i = 0; i < perRound; i++) ours.push(await timed(pool, array, expected));
          },
          async () => {
            copies.push(await timed(pool, copy, copy[copy.length - 1]!));
            await settle(pool);
          },
        ];
        for (const t of r % 2 === 0 ? trials : [...trials].reverse()) await t();
      }
      const o = summarize(ours);
      const c = summarize(copies);
      const copyMs = (c.median * bytes) / copyBytes;
      const speedup = copyMs / o.median;
      rows.push({
        measure: `${label}: \`pool.map(task, [array])\` until the result, a ${sizeText(bytes)} float64 SharedNDArray (${ours.length} maps; copies: ${copies.length})`,
        ndshm: figure(o, 'ms'),
        alternative:
          copyBytes === bytes
            ? `${alt}: ${figure(c, 'ms')}`
            : `${alt}, ${sizeText(copyBytes)} (the largest that got through; ${failures.join('; ')}): ${figure(c, 'ms')}, i.e. ${num(copyMs)} ms per ${sizeText(bytes)} scaled linearly`,
        ratio: `${ratio(o.median, copyMs, 'time')} (${num(speedup)}× faster)`,
        target: target(`≥ ${speedupTarget}× faster`, speedup >= speedupTarget),
      });
    }
    return {
      rows,
      notes: [
        load,
        `Each pool has one worker, warmed up before the clock; the task returns the last element (checked). The array is made and filled once; ` +
          'its worker keeps it open between maps (the attach cache), as a pool does. Each copy is followed, untimed, by a full GC in the worker ' +
          `and in the runner and a ${settleMs} ms pause; rounds alternate which goes first.`,
      ],
    };
  } finally {
    for (const { pool } of pools) await pool.terminate();
    array.release();
  }
}
