// The README's demo: one process puts 1 GiB of float64 into shared memory; N worker processes open
// it by handle and sum their parts in parallel. It prints each attach time, the speed-up over one
// process, and the memory all processes use (PSS) against what private copies would take.
//
//   npm run demo                          1 GiB, one worker per core
//   npm run demo -- --workers 4 --size 256MiB
//
// It leaves /dev/shm as it found it, also when interrupted with Ctrl-C.

import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';

import { SharedNDArray, type SharedNDArrayHandle } from '../src/index.js';

interface Result {
  worker: number;
  pid: number;
  attachMicros: number;
  count: number;
  sum: number;
  sumMillis: number;
  pss: Pss;
}

interface Pss {
  total: number; // bytes
  shmem: number;
}

function pssOf(pid: number | 'self'): Pss {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { total: field('Pss'), shmem: field('Pss_Shmem') };
}

function sum(values: Float64Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  return s;
}

const gib = (n: number): string => `${(n / 2 ** 30).toFixed(2)} GiB`;
const ms = (t: number): string => `${t.toFixed(0)} ms`;

function option(flag: string, fallback: string): string {
  const i = process.argv.indexOf(flag);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(|k|m|g)i?b?$/i.exec(text.trim());
  if (m === null) throw new Error(`--size: cannot read ${JSON.stringify(text)} (try 1GiB or 256MiB)`);
  const unit = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.floor((Number(m[1]) * unit) / 8) * 8;
}

async function parent(): Promise<void> {
  const workers = Number(option('--workers', String(availableParallelism())));
  const bytes = parseSize(option('--size', '1GiB'));
  const count = bytes / 8;
  const children: ChildProcess[] = [];
  const array = SharedNDArray.empty([count], 'float64');
  // Ctrl-C: stop the workers, remove the array, leave. (Had this process been killed outright, its
  // watchdog would remove the array instead.)
  process.once('SIGINT', () => {
    for (const c of children) c.kill('SIGKILL');
    array.release();
    console.log('\ninterrupted: workers stopped, shared memory removed');
    process.exit(130);
  });

  console.log(`ndshm demo: ${gib(bytes)} of float64 (${count.toLocaleString('en')} values) in shared memory "${array.name}", ${workers} worker processes`);
  const t = performance.now();
  const data = array.data as Float64Array;
  for (let i = 0; i < count; i++) data[i] = (i % 1000) * 0.5;
  console.log(`  filled in ${ms(performance.now() - t)}`);

  const expected = sum(data);

  // One fresh worker process, then N: both pay the same attach and first-touch page faults.
  const one = await spawnWorkers(1, children);
  const [alone] = await dispatch(one, array, 1);
  console.log(
    `  1 worker process: attached in ${alone!.result.attachMicros.toFixed(0)} µs, summed all ${count.toLocaleString('en')} values ` +
      `in ${ms(alone!.result.sumMillis)}; ${ms(alone!.millis)} from dispatch to result`,
  );
  await stop(one);

  const many = await spawnWorkers(workers, children);
  const results = await dispatch(many, array, workers);
  const parallel = Math.max(...results.map((r) => r.millis));
  console.log(`  ${workers} worker processes, one part each:`);
  for (const { result: r } of results) {
    console.log(
      `    worker ${r.worker + 1} (pid ${r.pid}): attached in ${r.attachMicros.toFixed(0)} µs, summed ${r.count.toLocaleString('en')} values in ${ms(r.sumMillis)}`,
    );
  }
  const total = results.reduce((s, r) => s + r.result.sum, 0);
  const agree = Math.abs(total - expected) <= 1e-9 * Math.abs(expected) && Math.abs(alone!.result.sum - expected) <= 1e-9 * Math.abs(expected);
  console.log(
    `    ${ms(parallel)} from dispatch to the last result: ${(alone!.millis / parallel).toFixed(2)}x faster than 1 worker process; ` +
      `sums ${agree ? 'agree' : `DISAGREE (${total} vs ${expected})`}`,
  );

  // Every process maps the same pages: PSS splits each shared page between the processes using it.
  const mine = pssOf('self');
  const all = [mine, ...results.map((r) => r.result.pss)];
  const used = all.reduce((s, p) => s + p.total, 0);
  const private_ = all.reduce((s, p) => s + p.total - p.shmem, 0) + all.length * bytes;
  console.log(
    `  memory (PSS, /proc/PID/smaps_rollup): ${all.length} processes use ${gib(used)} in all; ` +
      `with a private copy each they would use ${gib(private_)}`,
  );

  await stop(many);
  array.release();
  console.log(`  released "${array.name}": /dev/shm is as it was`);
  if (!agree) process.exitCode = 1;
}

async function spawnWorkers(n: number, all: ChildProcess[]): Promise<ChildProcess[]> {
  const started = Array.from({ length: n }, () => fork(new URL(import.meta.url), ['worker'], { stdio: 'inherit' }));
  all.push(...started);
  await Promise.all(started.map((c) => new Promise((resolve) => c.once('message', resolve)))); // imported and ready
  return started;
}

/** Sends each worker its part (a view, by handle); resolves with each result and its round-trip time. */
function dispatch(workers: ChildProcess[], array: SharedNDArray, n: number): Promise<{ result: Result; millis: number }[]> {
  const count = array.size;
  const per = Math.ceil(count / n);
  const t0 = performance.now();
  return Promise.all(
    workers.map((c, w) => {
      // A handle is a small plain object naming the memory and the view; it survives any IPC.
      c.send({ worker: w, handle: array.slice(`${w * per}:${Math.min(count, (w + 1) * per)}`).handle });
      return new Promise<{ result: Result; millis: number }>((resolve, reject) => {
        c.once('message', (m) => resolve({ result: m as Result, millis: performance.now() - t0 }));
        c.once('exit', (code) => reject(new Error(`worker ${w} exited with code ${code}`)));
      });
    }),
  );
}

async function stop(workers: ChildProcess[]): Promise<void> {
  for (const c of workers) c.send('exit');
  await Promise.all(workers.map((c) => new Promise((resolve) => c.once('exit', resolve))));
}

function worker(): void {
  let held: SharedNDArray | undefined;
  process.on('message', (m) => {
    if (m === 'exit') {
      held?.release(); // only attached: this never removes the parent's array
      process.disconnect();
      return;
    }
    const { worker: w, handle } = m as { worker: number; handle: SharedNDArrayHandle };
    const t0 = performance.now();
    const part = SharedNDArray.open(handle);
    const attachMicros = (performance.now() - t0) * 1000;
    const t1 = performance.now();
    const s = sum(part.data as Float64Array);
    const sumMillis = performance.now() - t1;
    const result: Result = { worker: w, pid: process.pid, attachMicros, count: part.size, sum: s, sumMillis, pss: pssOf('self') };
    process.send!(result); // keep the mapping until the parent has read everyone's PSS
    held = part;
  });
  process.send!('ready');
}

if (process.argv[2] === 'worker') worker();
else await parent();
