// Attach latency of an existing segment: the first Segment.open in a fresh process (against Python's
// SharedMemory + np.ndarray, also in a fresh process), and repeated open + close in a warm process
// (against the Node-API fallback, whose buffers V8 counts as external memory and which thus drives GCs).

import { Segment, isNdshmError } from '../../src/index.js';
import { type PythonInfo, pythonInfo } from '../lib/python.js';
import { type Row, type ScenarioOptions, type ScenarioResult, figure, none, num, ratio, target } from '../lib/report.js';
import { benchName } from '../lib/shm.js';
import { summarize } from '../lib/stats.js';
import { type FirstOpens, firstOpens } from './attach/first-open.js';
import { type LoopSummary, type WarmLoops, loopIterations, loopWarmup, warmLoops } from './attach/warm-loop.js';

export const title = 'Attach an existing 1 GiB segment';
export const order = 10;

const firstOpenTargetUs = 60;
const warmOpenTargetUs = 10;

function firstOpenRows(first: FirstOpens, sizeText: string, runs: number, py: PythonInfo | string): Row[] {
  const rows: Row[] = [
    {
      measure: `First \`Segment.open\` of a ${sizeText} segment in a fresh process (${runs} processes)`,
      ndshm: figure(first.node, 'µs'),
      alternative: first.python
        ? `Python \`SharedMemory(name)\` + \`np.ndarray\`, fresh process, resource tracker already running: ${figure(first.python, 'µs')}`
        : `${none} (${py as string})`,
      ratio: first.python ? ratio(first.node.median, first.python.median, 'time') : none,
      target: target(`median ≤ ${firstOpenTargetUs} µs`, first.node.median <= firstOpenTargetUs),
    },
  ];
  if (first.pythonWithTracker) {
    rows.push({
      measure: 'Same',
      ndshm: figure(first.node, 'µs'),
      alternative:
        'The same Python, its resource tracker started inside the timed `SharedMemory(name)` (as on a plain first attach, ' +
        `CPython ≤ 3.12): ${figure(first.pythonWithTracker, 'µs')}`,
      ratio: ratio(first.node.median, first.pythonWithTracker.median, 'time'),
      target: none,
    });
  }
  return rows;
}

function gcCounts(loops: LoopSummary): string {
  const per = (counts: readonly number[]): string => {
    if (counts.every((c) => c === counts[0])) return `${counts[0]} in each of ${counts.length} runs`;
    const s = summarize(counts);
    return `${num(s.median)} (${s.min}–${s.max}) per run`;
  };
  const anyMajor = loops.majorGcs.some((c) => c > 0);
  return anyMajor ? `${per(loops.gcs)}; major (mark-compact): ${per(loops.majorGcs)}` : per(loops.gcs);
}

function warmLoopRows({ uncounted, counted, floor }: WarmLoops, runs: number): Row[] {
  const fallback = 'Node-API fallback (`NDSHM_COUNTED_BUFFERS=1`)';
  const noGcs = uncounted.gcs.every((c) => c === 0);
  return [
    {
      measure: `Repeated attaches (\`Segment.open\`) in a warm process, median of ${loopIterations} iterations (${runs} processes)`,
      ndshm: figure(uncounted.medianUs, 'µs'),
      alternative: `${fallback}: ${figure(counted.medianUs, 'µs')}`,
      ratio: ratio(uncounted.medianUs.median, counted.medianUs.median, 'time'),
      target: target(`median ≤ ${warmOpenTargetUs} µs with 0 GCs`, uncounted.medianUs.median <= warmOpenTargetUs && noGcs),
    },
    {
      measure: 'Same',
      ndshm: figure(uncounted.medianUs, 'µs'),
      alternative:
        typeof floor === 'string'
          ? `${none} (${floor})`
          : 'The system calls alone, from C: `shm_open`, `fstat`, `mmap` (bench/c/attach-floor.c): ' +
            figure(floor.medianUs, 'µs'),
      ratio: typeof floor === 'string' ? none : ratio(uncounted.medianUs.median, floor.medianUs.median, 'time'),
      target: none,
    },
    {
      measure: 'Same, 90th percentile of the iterations',
      ndshm: figure(uncounted.p90Us, 'µs'),
      alternative: `${fallback}: ${figure(counted.p90Us, 'µs')}`,
      ratio: ratio(uncounted.p90Us.median, counted.p90Us.median, 'time'),
      target: none,
    },
    {
      measure: 'The `close()` after each attach (detach, `munmap`, `close`)',
      ndshm: uncounted.closeUs ? figure(uncounted.closeUs, 'µs') : none,
      alternative: counted.closeUs ? `${fallback}: ${figure(counted.closeUs, 'µs')}` : none,
      ratio: uncounted.closeUs && counted.closeUs ? ratio(uncounted.closeUs.median, counted.closeUs.median, 'time') : none,
      target: none,
    },
    {
      measure: `GCs during the ${loopIterations} attach + close iterations (PerformanceObserver \`gc\`)`,
      ndshm: gcCounts(uncounted),
      alternative: `${fallback}: ${gcCounts(counted)}`,
      ratio: none,
      target: target('0 GCs', noGcs),
    },
  ];
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const size = options.quick ? 2 ** 26 : 2 ** 30;
  const runs = options.runs ?? (options.quick ? 3 : 15);
  const sizeText = options.quick ? `${size / 2 ** 20} MiB` : '1 GiB';
  const py = pythonInfo();
  const name = benchName('attach');
  const segment = Segment.create(name, size);
  try {
    const first = await firstOpens(segment, runs, typeof py !== 'string');
    const loops = await warmLoops(segment, runs);
    const notes = [
      'Fresh processes: node imports the library, python3 imports numpy and multiprocessing.shared_memory, before the clock ' +
        'starts; the node and the two Python variants alternate. Python unregisters the segment from its resource tracker ' +
        'right after attaching, so that the tracker does not unlink it when the process exits.',
      `Warm loop: ${loopWarmup} untimed iterations and a full GC (clearing the garbage of process startup) first; each figure ` +
        `is the median over ${runs} processes (min–max across them) of that process's per-iteration median or 90th ` +
        'percentile; ndshm, the fallback and the C loop alternate.',
    ];
    if (typeof py !== 'string') notes.push(`Python ${py.python}, numpy ${py.numpy}.`);
    return { rows: [...firstOpenRows(first, sizeText, runs, py), ...warmLoopRows(loops, runs)], notes };
  } finally {
    segment.close();
    try {
      segment.unlink(); // only if the name still is our object
    } catch (err) {
      if (!isNdshmError(err, 'ENOENT')) throw err; // gone already: the error above says why
    }
  }
}
