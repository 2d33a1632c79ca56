// Counter: increments from 2 worker threads (and 2 processes) on one ndshm Counter, against 2 worker
// threads doing Atomics.add on one plain SharedArrayBuffer; and one thread's uncontended increment.

import { Worker } from 'node:worker_threads';

import { Counter, Segment } from '../../src/index.js';
import type { Mode } from '../children/sync-counter.js';
import { Forked, childrenDir, killAll } from '../lib/forked.js';
import { type Row, type ScenarioOptions, type ScenarioResult, figure, none, num, ratio, target } from '../lib/report.js';
import { benchName } from '../lib/shm.js';
import { summarize } from '../lib/stats.js';

export const title = 'Counter: increments from two threads or processes';
export const order = 81;

const script = `${childrenDir}sync-counter.js`;

interface Span {
  start: number;
  end: number;
}

interface Run {
  mPerSec: number;
  overlap: number;
  exact: boolean;
}

function measure(spans: readonly Span[], total: number, exact: boolean): Run {
  const from = Math.min(...spans.map((s) => s.start));
  const to = Math.max(...spans.map((s) => s.end));
  const lo = Math.max(...spans.map((s) => s.start));
  const hi = Math.min(...spans.map((s) => s.end));
  return { mPerSec: total / ((to - from) / 1000) / 1e6, overlap: hi > lo ? (hi - lo) / (to - from) : 0, exact };
}

function onceMessage<T>(w: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
}

async function threads(mode: Mode, iterations: number): Promise<Run> {
  const gate = new SharedArrayBuffer(4);
  const ours = mode === 'increment' || mode === 'add';
  const counter = ours ? Counter.create({ name: benchName('counter') }) : undefined;
  const sab = ours ? undefined : new SharedArrayBuffer(8);
  const workers = [0, 1].map(() => new Worker(script, { workerData: { mode, handle: counter?.handle, sab, gate, iterations } }));
  try {
    await Promise.all(workers.map((w) => onceMessage(w)));
    Atomics.store(new Int32Array(gate), 0, 1);
    const spans = await Promise.all(workers.map((w) => onceMessage<Span>(w)));
    const value = counter ? counter.value : Number(new BigInt64Array(sab!)[0]);
    return measure(spans, 2 * iterations, value === 2 * iterations);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
    counter?.close();
  }
}

async function processes(iterations: number): Promise<Run> {
  const counter = Counter.create({ name: benchName('counter-p') });
  const gate = Segment.create(benchName('counter-g'), 64);
  const children = [new Forked('sync-counter.js'), new Forked('sync-counter.js')];
  try {
    for (const c of children) await c.next();
    for (const c of children) c.send({ mode: 'increment', handle: counter.handle, gate: gate.name, iterations });
    for (const c of children) await c.next();
    Atomics.store(new Int32Array(gate.buffer), 0, 1);
    const spans = await Promise.all(children.map((c) => c.next<Span>()));
    await Promise.all(children.map((c) => c.exited()));
    return measure(spans, 2 * iterations, counter.value === 2 * iterations);
  } finally {
    await killAll(children);
    gate.close();
    gate.unlink();
    counter.close();
  }
}

function uncontended(iterations: number): { ndshmNs: number; atomicsNs: number } {
  const counter = Counter.create({ name: benchName('counter-u') });
  const v = new BigInt64Array(new SharedArrayBuffer(8));
  try {
    const inc = (n: number): void => {
      for (let i = 0; i < n; i++) counter.increment();
    };
    const add = (n: number): void => {
      for (let i = 0; i < n; i++) Atomics.add(v, 0, 1n);
    };
    inc(iterations / 10);
    add(iterations / 10);
    let t = performance.now();
    inc(iterations);
    const ndshmNs = ((performance.now() - t) * 1e6) / iterations;
    t = performance.now();
    add(iterations);
    return { ndshmNs, atomicsNs: ((performance.now() - t) * 1e6) / iterations };
  } finally {
    counter.close();
  }
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const runs = options.runs ?? (options.quick ? 2 : 7);
  const iterations = options.quick ? 200_000 : 5_000_000;
  const modes: Mode[] = ['increment', 'add', 'sab', 'sab-count'];
  const threaded: Record<Mode, Run[]> = { increment: [], add: [], sab: [], 'sab-count': [] };
  const procs: Run[] = [];
  const single: { ndshmNs: number; atomicsNs: number }[] = [];
  for (let r = 0; r < runs; r++) {
    for (const mode of r % 2 === 0 ? modes : [...modes].reverse()) threaded[mode].push(await threads(mode, iterations));
    procs.push(await processes(iterations));
    single.push(uncontended(options.quick ? 1_000_000 : 10_000_000));
  }
  const s = (xs: Run[]) => summarize(xs.map((x) => x.mPerSec));
  const ov = (xs: Run[]) => {
    const o = summarize(xs.map((x) => x.overlap * 100));
    return `overlap ${num(o.min)}–${num(o.max)}%`;
  };
  const exact = (xs: Run[]) => (xs.every((x) => x.exact) ? 'count exact' : 'count **WRONG**');
  const sab = threaded.sab;
  const sabT = s(sab);
  const countT = s(threaded['sab-count']);
  const procT = s(procs);
  const incNs = summarize(single.map((x) => x.ndshmNs));
  const addNs = summarize(single.map((x) => x.atomicsNs));
  const per = iterations.toLocaleString('en');
  const bare = `2 worker threads × ${per} \`Atomics.add(v, 0, 1n)\` (result unused) on one BigInt64Array over a plain SharedArrayBuffer`;
  const rows: Row[] = [];
  for (const mode of ['increment', 'add'] as const) {
    const t = s(threaded[mode]);
    rows.push({
      measure: `2 worker threads × ${per} \`counter.${mode}()\`, million increments/s in all (${runs} runs)`,
      ndshm: `${figure(t, 'M/s')}; ${ov(threaded[mode])}; ${exact(threaded[mode])}`,
      alternative: `${bare}: ${figure(sabT, 'M/s')}; ${ov(sab)}; ${exact(sab)}`,
      ratio: ratio(t.median, sabT.median, 'throughput'),
      target: target('≥ 0.8×, exact', t.median >= 0.8 * sabT.median && threaded[mode].every((x) => x.exact)),
    });
  }
  const incT = s(threaded.increment);
  rows.push(
    {
      measure: `Same, \`counter.increment()\` against an \`Atomics.add\` whose result is used as a counter's is`,
      ndshm: figure(incT, 'M/s'),
      alternative: `2 worker threads × ${per} \`Number(Atomics.add(v, 0, 1n)) + 1\` on a plain SharedArrayBuffer: ${figure(countT, 'M/s')}; ${ov(threaded['sab-count'])}`,
      ratio: ratio(incT.median, countT.median, 'throughput'),
      target: none,
    },
    {
      measure: `2 processes × ${per} \`counter.increment()\``,
      ndshm: `${figure(procT, 'M/s')}; ${ov(procs)}; ${exact(procs)}`,
      alternative: `the worker threads' bare \`Atomics.add\` above: ${figure(sabT, 'M/s')}`,
      ratio: ratio(procT.median, sabT.median, 'throughput'),
      target: target('≥ 0.8×, exact', procT.median >= 0.8 * sabT.median && procs.every((x) => x.exact)),
    },
    {
      measure: 'Uncontended `counter.increment()` in one thread, ns each',
      ndshm: figure(incNs, 'ns'),
      alternative: `\`Atomics.add(bigInt64Array, 0, 1n)\` (result unused) on a SharedArrayBuffer: ${figure(addNs, 'ns')}`,
      ratio: ratio(incNs.median, addNs.median, 'time'),
      target: target('≤ 25 ns', incNs.median <= 25),
    },
  );
  const notes = [
    'Contenders spin on a shared gate word and start together; each records its start and end (CLOCK_MONOTONIC), the figure ' +
      'is all increments over the first start to the last end, and overlap is the share of that span during which both ran. ' +
      'On one vCPU, or when the two are time-sliced, no cache line moves between cores and the figures say little about contention.',
    '`increment()` is `Atomics.add` on a BigInt64Array over the counter\'s SharedArrayBuffer (made over the sync segment\'s pages ' +
      'through V8\'s API), the 64-bit result turned into a number (the count it returns), the milestone check and a load of the ' +
      'waiters word (on another cache line). `add()` returns nothing, so with no printEvery the result is never made into a BigInt ' +
      'at all, as in the bare baseline. With two threads hammering one word, each add waits for the cache line, and the work ' +
      'between adds decides how often a thread is ready for it: the baseline does nothing else. Modes alternate within each run.',
  ];
  return { rows, notes };
}
