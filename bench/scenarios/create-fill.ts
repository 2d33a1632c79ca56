// Creating a segment and writing it the first time, against the floor for first-touching that much
// memory: filling a fresh anonymous ArrayBuffer of the same size. Freed memory goes back to the host on
// the VMs this was written on, and first touch costs vary widely, so the two alternate run by run.

import { Segment } from '../../src/index.js';
import { forceGc } from '../lib/gc.js';
import { type Row, type ScenarioOptions, type ScenarioResult, figure, gbPerSecond, none, num, ratio } from '../lib/report.js';
import { benchName } from '../lib/shm.js';
import { summarize } from '../lib/stats.js';
import { interleave } from '../lib/timing.js';

export const title = 'Create and fill a 1 GiB segment';
export const order = 20;

interface Times {
  create: number[];
  fill: number[];
  total: number[];
  refill: number[];
}

/** Segment.create, first fill, second fill; closes and unlinks whatever happens. */
function segmentTrial(size: number, into: Times): void {
  const name = benchName('fill');
  let segment: Segment | undefined;
  try {
    const start = performance.now();
    segment = Segment.create(name, size);
    const created = performance.now();
    const view = new Float64Array(segment.buffer);
    view.fill(1);
    const filled = performance.now();
    view.fill(2);
    const refilled = performance.now();
    into.create.push(created - start);
    into.fill.push(filled - created);
    into.total.push(filled - start);
    into.refill.push(refilled - filled);
  } finally {
    if (segment !== undefined) {
      segment.close();
      Segment.unlink(name);
    }
  }
}

/** The same on a fresh plain ArrayBuffer: allocation and first fill (anonymous first touch), second fill. */
function anonymousTrial(size: number, into: Times): void {
  const start = performance.now();
  const view = new Float64Array(size / 8);
  view.fill(1);
  const filled = performance.now();
  view.fill(2);
  const refilled = performance.now();
  into.total.push(filled - start);
  into.refill.push(refilled - filled);
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const size = options.quick ? 2 ** 26 : 2 ** 30;
  const runs = options.runs ?? (options.quick ? 3 : 5);
  // Untimed: the first create starts this process's cleanup watchdog, and both paths get compiled.
  segmentTrial(2 ** 16, { create: [], fill: [], total: [], refill: [] });
  anonymousTrial(2 ** 16, { create: [], fill: [], total: [], refill: [] });

  const seg: Times = { create: [], fill: [], total: [], refill: [] };
  const anon: Times = { create: [], fill: [], total: [], refill: [] };
  interleave(runs, [
    () => segmentTrial(size, seg),
    () => {
      anonymousTrial(size, anon);
      forceGc(); // free the ArrayBuffer now, as close + unlink free the segment
    },
  ]);

  const ms = (values: number[]) => summarize(values);
  const rate = (values: number[]) => summarize(values.map((t) => gbPerSecond(size, t)));
  const cell = (values: number[]) => `${figure(ms(values), 'ms')}; ${num(rate(values).median)} GB/s`;
  const limit = ms(anon.total);
  const limitCell = `first-touch limit, \`new Float64Array(${size / 8}).fill(1)\`: ${cell(anon.total)}`;
  const vsLimit = (values: number[]) => ratio(limit.median, ms(values).median, 'throughput');
  const sizeText = options.quick ? `${size / 2 ** 20} MiB` : '1 GiB';
  const rows: Row[] = [
    {
      measure: `\`Segment.create\` + first \`new Float64Array(seg.buffer).fill(1)\`, ${sizeText}`,
      ndshm: cell(seg.total),
      alternative: limitCell,
      ratio: vsLimit(seg.total),
      target: none,
    },
    { measure: 'of which `Segment.create`', ndshm: cell(seg.create), alternative: limitCell, ratio: vsLimit(seg.create), target: none },
    { measure: 'of which the first fill', ndshm: cell(seg.fill), alternative: limitCell, ratio: vsLimit(seg.fill), target: none },
    {
      measure: 'Second fill of the same segment (touched memory)',
      ndshm: cell(seg.refill),
      alternative: `second fill of the same plain ArrayBuffer: ${cell(anon.refill)}`,
      ratio: ratio(ms(anon.refill).median, ms(seg.refill).median, 'throughput'),
      target: none,
    },
  ];
  const notes = [
    `${runs} runs of each, alternating which goes first; ms are median (min–max), GB/s (10⁹ bytes/s) is the size over the median time. ` +
      'Each segment is closed and unlinked, and each ArrayBuffer collected, before the next run.',
    '`Segment.create` reserves the memory with posix_fallocate (a full /dev/shm fails there, not with a SIGBUS later), so part of ' +
      'the first-touch cost moves from the fill into the create.',
  ];
  return { rows, notes };
}
