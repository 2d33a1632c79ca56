// Repeated attaches (Segment.open, timed alone) and closes in a warm process (bench/children/attach-loop.ts): ndshm, the Node-API
// fallback (NDSHM_COUNTED_BUFFERS=1) and, with a C compiler, the same system calls from C.

import type { Segment } from '../../../src/index.js';
import { compileC } from '../../lib/c-program.js';
import { envWithout, lastJsonLine, runNodeChild, runProcess } from '../../lib/processes.js';
import { type Summary, median, summarize } from '../../lib/stats.js';
import { interleaveAsync } from '../../lib/timing.js';
import { expectBytes } from './expect.js';

export const loopIterations = 200;
export const loopWarmup = 20;

interface Loop {
  /** The attach (open) alone. */
  samplesUs: number[];
  closeUs?: number[];
  bytes: number;
  gcs: number;
  majorGcs: number;
}

export interface LoopSummary {
  /** Across processes: each process's median per-iteration time. */
  medianUs: Summary;
  /** Across processes: each process's 90th percentile. */
  p90Us: Summary;
  /** Across processes: each process's median close. */
  closeUs: Summary | undefined;
  gcs: number[];
  majorGcs: number[];
}

export interface WarmLoops {
  uncounted: LoopSummary;
  counted: LoopSummary;
  /** The C loop, or why it could not be built. */
  floor: LoopSummary | string;
}

function summarizeLoops(loops: readonly Loop[]): LoopSummary {
  return {
    medianUs: summarize(loops.map((l) => median(l.samplesUs))),
    p90Us: summarize(loops.map((l) => summarize(l.samplesUs).p90)),
    closeUs: loops.every((l) => l.closeUs !== undefined) ? summarize(loops.map((l) => median(l.closeUs!))) : undefined,
    gcs: loops.map((l) => l.gcs),
    majorGcs: loops.map((l) => l.majorGcs),
  };
}

/** `runs` rounds, each variant in a fresh process per round, alternating the order. */
export async function warmLoops(segment: Segment, runs: number): Promise<WarmLoops> {
  const size = segment.byteLength;
  const args = [segment.name, String(loopIterations), String(loopWarmup)];
  const uncounted: Loop[] = [];
  const counted: Loop[] = [];
  const floor: Loop[] = [];
  const nodeLoop = (env: NodeJS.ProcessEnv, into: Loop[]) => async () => {
    const r = await runNodeChild<Loop>('attach-loop.js', args, { env, nodeArgs: ['--expose-gc'] });
    expectBytes('attach-loop', r.bytes, size);
    into.push(r);
  };
  const trials = [
    nodeLoop(envWithout('NDSHM_COUNTED_BUFFERS'), uncounted),
    nodeLoop({ ...process.env, NDSHM_COUNTED_BUFFERS: '1' }, counted),
  ];
  const c = compileC('attach-floor');
  try {
    if (typeof c !== 'string') {
      trials.push(async () => {
        const r = lastJsonLine<{ samplesUs: number[]; bytes: number }>('attach-floor', await runProcess(c.path, args));
        expectBytes('attach-floor', r.bytes, size);
        floor.push({ ...r, gcs: 0, majorGcs: 0 });
      });
    }
    await interleaveAsync(runs, trials);
  } finally {
    if (typeof c !== 'string') c.remove();
  }
  return {
    uncounted: summarizeLoops(uncounted),
    counted: summarizeLoops(counted),
    floor: typeof c === 'string' ? c : summarizeLoops(floor),
  };
}
