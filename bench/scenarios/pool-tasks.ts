// Pool round trips with an ndshm array by handle: ndshm's threadPool against piscina moving a 1 MiB
// ArrayBuffer there and back, ndshm's processPool against workerpool's process pool carrying the same
// handle (its worker keeps the arrays it opened, as ndshm's does). Latency is one task at a time;
// throughput keeps 8 tasks in flight. All pools have 2 workers.

import { Piscina } from 'piscina';
import workerpool from 'workerpool';

import { SharedNDArray, processPool, threadPool } from '../../src/index.js';
import { latency, loadNote, throughput, warm } from '../lib/pools.js';
import { type Row, type ScenarioOptions, type ScenarioResult, figure, none, num, ratio, target } from '../lib/report.js';
import { benchName } from '../lib/shm.js';
import { type Summary, median, summarize } from '../lib/stats.js';

export const title = 'Pool tasks carrying an array by handle';
export const order = 90;

const children = new URL('../children/', import.meta.url);
const tasks = new URL('pool-tasks.js', children).href;
const first = { module: tasks, name: 'first' };
const empty = { module: tasks, name: 'empty' };
const inFlight = 8;

interface Side {
  lat: Summary[];
  tput: number[];
}
const side = (): Side => ({ lat: [], tput: [] });

function tputCell(values: number[]): string {
  return `${num(median(values))} tasks/s (${num(Math.min(...values))}–${num(Math.max(...values))})`;
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const load = loadNote();
  const rounds = options.runs ?? (options.quick ? 1 : 5);
  const count = options.quick ? 300 : 2000;
  const warmup = options.quick ? 50 : 300;
  const tputCount = options.quick ? 1000 : 10000;

  const array = SharedNDArray.zeros([2 ** 17], 'float64', { name: benchName('pool') }); // 1 MiB
  const threads = threadPool({ size: 2 });
  const procs = processPool({ size: 2 });
  const piscina = new Piscina({ filename: new URL('piscina-worker.js', children).href, minThreads: 2, maxThreads: 2 });
  const wp = workerpool.pool(new URL('workerpool-worker.js', children).pathname, { workerType: 'process', minWorkers: 2, maxWorkers: 2 });
  const buffers = Array.from({ length: inFlight + 1 }, () => new ArrayBuffer(2 ** 20));
  try {
    const ndThread = (): Promise<unknown> => threads.apply(first, [array]);
    const ndThreadEmpty = (): Promise<unknown> => threads.apply(empty, []);
    const ndProcess = (): Promise<unknown> => procs.apply(first, [array]);
    let next = 0;
    // Each lane moves its own buffer there and back (a moved buffer is detached on the sending side).
    const move = async (): Promise<unknown> => {
      const i = next++ % buffers.length;
      const buf = buffers[i]!;
      buffers[i] = (await piscina.run({ kind: 'move', buf }, { transferList: [buf] })) as ArrayBuffer;
      return buffers[i];
    };
    const wpHandle = (): Promise<unknown> => wp.exec('handle', [array.handle]) as unknown as Promise<unknown>;
    const sides = { thread: side(), threadEmpty: side(), piscina: side(), process: side(), workerpool: side() };
    const runs: [Side, () => Promise<unknown>][] = [
      [sides.thread, ndThread],
      [sides.threadEmpty, ndThreadEmpty],
      [sides.piscina, move],
      [sides.process, ndProcess],
      [sides.workerpool, wpHandle],
    ];
    for (const [, fn] of runs) await warm(fn, warmup); // workers started and code compiled
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? runs : [...runs].reverse();
      for (const [s, fn] of order) {
        s.lat.push(await latency(fn, count, 20));
        s.tput.push(await throughput(fn, tputCount, inFlight));
      }
    }
    const p50 = (s: Side): Summary => summarize(s.lat.map((l) => l.median));
    const tput = (s: Side): number => median(s.tput);
    const threadRatio = tput(sides.thread) / tput(sides.piscina);
    const processP50 = p50(sides.process).median;
    const processRatio = tput(sides.process) / tput(sides.workerpool);
    const rows: Row[] = [
      {
        measure: `\`threadPool\` throughput, a 1 MiB array by handle, ${inFlight} in flight (${tputCount} tasks × ${rounds} runs)`,
        ndshm: tputCell(sides.thread.tput),
        alternative: `piscina 5, a 1 MiB ArrayBuffer moved there and back: ${tputCell(sides.piscina.tput)}`,
        ratio: ratio(tput(sides.thread), tput(sides.piscina), 'throughput'),
        target: target('≥ 2× the throughput', threadRatio >= 2),
      },
      {
        measure: `\`threadPool\` round trip, one task at a time (median of ${count} × ${rounds} runs)`,
        ndshm: figure(p50(sides.thread), 'µs'),
        alternative: `piscina, 1 MiB moved there and back: ${figure(p50(sides.piscina), 'µs')}`,
        ratio: ratio(p50(sides.thread).median, p50(sides.piscina).median, 'time'),
        target: none,
      },
      {
        measure: 'Same, the handle against an empty task (what the array costs)',
        ndshm: figure(p50(sides.thread), 'µs'),
        alternative: `\`threadPool\`, a task without arguments: ${figure(p50(sides.threadEmpty), 'µs')}; throughput ${tputCell(sides.threadEmpty.tput)}`,
        ratio: ratio(p50(sides.thread).median, p50(sides.threadEmpty).median, 'time'),
        target: none,
      },
      {
        measure: `\`processPool\` round trip, a 1 MiB array by handle, one task at a time (median of ${count} × ${rounds} runs)`,
        ndshm: figure(p50(sides.process), 'µs'),
        alternative: `workerpool 10 (workerType 'process'), the same handle, its worker caching the arrays it opened: ${figure(p50(sides.workerpool), 'µs')}`,
        ratio: ratio(processP50, p50(sides.workerpool).median, 'time'),
        target: target('p50 ≤ 100 µs', processP50 <= 100),
      },
      {
        measure: `\`processPool\` throughput, ${inFlight} in flight (${tputCount} tasks × ${rounds} runs)`,
        ndshm: tputCell(sides.process.tput),
        alternative: `workerpool, the same: ${tputCell(sides.workerpool.tput)}`,
        ratio: ratio(tput(sides.process), tput(sides.workerpool), 'throughput'),
        target: target('≥ 1× the throughput', processRatio >= 1),
      },
    ];
    return {
      rows,
      notes: [
        load,
        'Each pool has 2 workers, started and warmed up before the clock (300 untimed tasks of each kind). The ndshm task ' +
          'opens the array from its worker\'s attach cache and returns its first element; piscina\'s task writes one byte of ' +
          'the moved buffer and moves it back (`Piscina.move`), piscina\'s defaults otherwise (`atomics: \'sync\'`); ' +
          'workerpool\'s worker keeps a Map of the arrays it opened. Latency: the median over runs of each run\'s median; ' +
          `throughput: ${inFlight} lanes, each awaiting its task before starting the next. The kinds alternate run by run, ` +
          'the order reversed every other run.',
      ],
    };
  } finally {
    await threads.terminate();
    await procs.terminate();
    await piscina.destroy();
    await wp.terminate(true);
    array.release();
  }
}


