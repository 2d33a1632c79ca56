// A contender of the counter scenario: a worker thread (workerData) or a forked process (first IPC
// message). Config: {mode, handle?, sab?, gate: SharedArrayBuffer | segment name, iterations}. It says
// {ready}, spins until the gate word is set, increments `iterations` times, and says
// {start, end} (process.hrtime in ms: CLOCK_MONOTONIC, comparable across threads and processes).

import { isMainThread, parentPort, workerData } from 'node:worker_threads';

import { Counter, Segment, type SyncHandle } from '../../src/index.js';

// Modes: 'increment' (Counter.increment), 'add' (Counter.add), 'sab' (Atomics.add on a BigInt64Array
// over a plain SharedArrayBuffer, result unused), 'sab-count' (the same, its result made a number as a
// counter returning its count must).
export type Mode = 'increment' | 'add' | 'sab' | 'sab-count';

interface Config {
  mode: Mode;
  handle?: SyncHandle;
  sab?: SharedArrayBuffer;
  gate: SharedArrayBuffer | string;
  iterations: number;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

function run(config: Config, send: (m: unknown) => void): void {
  const segment = typeof config.gate === 'string' ? Segment.open(config.gate) : undefined;
  const gate = new Int32Array(segment ? segment.buffer : (config.gate as SharedArrayBuffer), 0, 1);
  const n = config.iterations;
  let start: number;
  let last = 0;
  if (config.mode === 'increment' || config.mode === 'add') {
    const counter = Counter.open(config.handle!);
    for (let i = 0; i < 1000; i++) counter.increment(0); // compiled before the clock
    for (let i = 0; i < 1000; i++) counter.add(0);
    send({ ready: true });
    while (Atomics.load(gate, 0) === 0) {
      // start together
    }
    start = nowMs();
    if (config.mode === 'increment') for (let i = 0; i < n; i++) last = counter.increment();
    else for (let i = 0; i < n; i++) counter.add();
    send({ start, end: nowMs(), last });
    counter.close();
  } else {
    const v = new BigInt64Array(config.sab!);
    for (let i = 0; i < 1000; i++) last = Number(Atomics.add(v, 0, 0n));
    send({ ready: true });
    while (Atomics.load(gate, 0) === 0) {
      // start together
    }
    start = nowMs();
    if (config.mode === 'sab') for (let i = 0; i < n; i++) Atomics.add(v, 0, 1n);
    else for (let i = 0; i < n; i++) last = Number(Atomics.add(v, 0, 1n)) + 1;
    send({ start, end: nowMs(), last });
  }
  segment?.close();
}

if (!isMainThread) {
  run(workerData as Config, (m) => parentPort!.postMessage(m));
} else {
  process.once('message', (config: Config) => {
    run(config, (m) => process.send!(m));
    process.disconnect();
  });
  process.send!({ started: true });
}
