// Copying an array into an already-touched Triton-style region, against Buffer.copy of the same source
// into an already-touched plain Buffer: both are memory-bandwidth bound, so the region should keep up.

import { Buffer } from 'node:buffer';

import { createSharedMemoryRegion, destroySharedMemoryRegion, getContentsAsArray, setSharedMemoryRegion } from '../../src/index.js';
import { type ScenarioOptions, type ScenarioResult, figure, gbPerSecond, num, ratio, target } from '../lib/report.js';
import { benchName } from '../lib/shm.js';
import { summarize } from '../lib/stats.js';
import { interleave, timeMs } from '../lib/timing.js';

export const title = 'Copy 1 GiB into a region';
export const order = 30;

const throughputTarget = 0.9;

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const size = options.quick ? 2 ** 26 : 2 ** 30;
  const runs = options.runs ?? (options.quick ? 3 : 7);
  const source = new Float64Array(size / 8);
  for (let i = 0; i < source.length; i++) source[i] = i; // touched, and not one repeated value
  const sourceBytes = Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  const plain = Buffer.alloc(size); // zero-filled: touched

  // createOnly: never attach to (and later remove) a region that is not ours.
  const region = createSharedMemoryRegion('bench_copy_in', benchName('copy'), size, { createOnly: true });
  try {
    // Untimed first copies: touch the region's pages and compile both paths.
    setSharedMemoryRegion(region, [source]);
    sourceBytes.copy(plain);
    const check = getContentsAsArray(region, 'FP64', [source.length]) as Float64Array;
    if (check[source.length - 1] !== source.length - 1) throw new Error('the region does not hold the copied array');

    const regionMs: number[] = [];
    const plainMs: number[] = [];
    interleave(runs, [
      () => void regionMs.push(timeMs(() => setSharedMemoryRegion(region, [source]))),
      () => void plainMs.push(timeMs(() => sourceBytes.copy(plain))),
    ]);

    const rate = (values: number[]) => summarize(values.map((t) => gbPerSecond(size, t)));
    const ours = rate(regionMs);
    const theirs = rate(plainMs);
    const throughput = ours.median / theirs.median;
    const sizeText = options.quick ? `${size / 2 ** 20} MiB` : '1 GiB';
    return {
      rows: [
        {
          measure: `\`setSharedMemoryRegion(region, [float64Array])\`, ${sizeText} into a touched region`,
          ndshm: `${figure(ours, 'GB/s')}; ${num(summarize(regionMs).median)} ms`,
          alternative: `\`Buffer.copy\` of the same source into a touched plain Buffer: ${figure(theirs, 'GB/s')}; ${num(summarize(plainMs).median)} ms`,
          ratio: ratio(ours.median, theirs.median, 'throughput'),
          target: target(`≥ ${throughputTarget}× the throughput`, throughput >= throughputTarget),
        },
      ],
      notes: [
        `${runs} copies of each, alternating which goes first; GB/s (10⁹ bytes/s) median (min–max). ` +
          'The source is a touched Float64Array; the region and the plain Buffer are touched by an untimed first copy.',
      ],
    };
  } finally {
    destroySharedMemoryRegion(region); // created here: this removes it too
  }
}
