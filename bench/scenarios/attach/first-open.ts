// The first attach in a fresh process: node (bench/children/first-open.ts) against python3 with numpy,
// with its resource tracker started before the clock or, as on a plain first attach, inside it.

import type { Segment } from '../../../src/index.js';
import { runNodeChild } from '../../lib/processes.js';
import { runPython } from '../../lib/python.js';
import { type Summary, summarize } from '../../lib/stats.js';
import { interleaveAsync } from '../../lib/timing.js';
import { expectBytes, expectSegment } from './expect.js';

// Imports first, then times the attach alone. CPython <= 3.12 registers even a segment it merely
// attached with its resource tracker, which unlinks it when the process exits: unregister at once
// (3.13+ has track=False). argv[3] = "1" starts the tracker process before the clock.
const pythonAttach = `
import json, sys, time
import numpy as np
from multiprocessing import resource_tracker, shared_memory
name, n, tracker_first = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
untracked = sys.version_info >= (3, 13)
if tracker_first and not untracked:
    resource_tracker.ensure_running()
start = time.perf_counter()
shm = shared_memory.SharedMemory(name, track=False) if untracked else shared_memory.SharedMemory(name)
a = np.ndarray((n,), dtype=np.float64, buffer=shm.buf)
us = (time.perf_counter() - start) * 1e6
if not untracked:
    resource_tracker.unregister(shm._name, "shared_memory")
nbytes = a.nbytes
del a
shm.close()
print(json.dumps({"us": us, "bytes": nbytes}))
`;

interface Attach {
  us: number;
  bytes: number;
}

export interface FirstOpens {
  node: Summary;
  /** Python with its resource tracker already running; undefined without python3 and numpy. */
  python: Summary | undefined;
  /** Python starting its resource tracker inside the timed call. */
  pythonWithTracker: Summary | undefined;
}

/** `runs` rounds of: a fresh node, and (withPython) both Python variants, alternating the order. */
export async function firstOpens(segment: Segment, runs: number, withPython: boolean): Promise<FirstOpens> {
  const size = segment.byteLength;
  const node: number[] = [];
  const python: number[] = [];
  const pythonWithTracker: number[] = [];
  const trials = [
    async () => {
      const r = await runNodeChild<Attach>('first-open.js', [segment.name]);
      expectBytes('node', r.bytes, size);
      node.push(r.us);
    },
  ];
  if (withPython) {
    for (const [trackerFirst, into] of [['1', python], ['0', pythonWithTracker]] as const) {
      trials.push(async () => {
        const r = await runPython<Attach>(pythonAttach, [segment.name, String(size / 8), trackerFirst]);
        expectSegment(segment);
        expectBytes('python', r.bytes, size);
        into.push(r.us);
      });
    }
  }
  await interleaveAsync(runs, trials);
  const summary = (values: number[]) => (values.length > 0 ? summarize(values) : undefined);
  return { node: summarize(node), python: summary(python), pythonWithTracker: summary(pythonWithTracker) };
}
