// A region shared by several processes: the parent creates it and fills it, child processes attach
// by name, each sums its share and writes the result back into the region, and the parent prints
// what they did and how long their attach took. Run: npm run build && node dist/examples/regions-demo.js

import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';

import {
  createSharedMemoryRegion,
  destroySharedMemoryRegion,
  getContentsAsArray,
  setSharedMemoryRegion,
} from '../src/index.js';

interface Report {
  worker: number;
  pid: number;
  attachMicros: number;
  sum: number;
}

const count = 16 * 1024 * 1024; // float64 values: 128 MiB
const resultBytes = 64 * 8;

async function parent(): Promise<void> {
  const workers = Number(process.argv[2] ?? availableParallelism());
  const key = `/ndshm-demo-${process.pid}`;
  const region = createSharedMemoryRegion('demo', key, count * 8 + resultBytes);
  try {
    const data = new Float64Array(count);
    for (let i = 0; i < count; i++) data[i] = i % 1000;
    setSharedMemoryRegion(region, [data]);
    console.log(`parent ${process.pid}: region ${key} holds ${count.toLocaleString()} float64 values (128 MiB); ${workers} children attach by name`);
    const reports = await Promise.all(
      Array.from({ length: workers }, (_, worker) => {
        const child = fork(new URL(import.meta.url), ['child', key, String(worker), String(workers)]);
        return new Promise<Report>((resolve, reject) => {
          child.once('message', (m) => resolve(m as Report));
          child.once('error', reject);
          child.once('exit', (code) => code !== 0 && reject(new Error(`child ${worker} exited with ${code}`)));
        });
      }),
    );
    const sums = getContentsAsArray(region, 'float64', [workers], count * 8) as Float64Array;
    for (const r of reports) {
      console.log(
        `  child ${r.worker} (pid ${r.pid}): attached in ${r.attachMicros.toFixed(1)} us, summed its part to ${r.sum}, ` +
          `wrote it at slot ${r.worker}: the parent reads ${sums[r.worker]}`,
      );
    }
    const expected = data.reduce((a, b) => a + b, 0);
    const total = sums.reduce((a, b) => a + b, 0);
    console.log(`total ${total} (expected ${expected}): ${total === expected ? 'correct' : 'WRONG'}`);
  } finally {
    destroySharedMemoryRegion(region); // created here: this removes it
  }
}

function child(key: string, worker: number, workers: number): void {
  const t0 = performance.now();
  const region = createSharedMemoryRegion('demo', key, count * 8 + resultBytes);
  const attachMicros = (performance.now() - t0) * 1000;
  const per = Math.ceil(count / workers);
  const start = worker * per;
  const part = getContentsAsArray(region, 'float64', [Math.max(0, Math.min(per, count - start))], start * 8) as Float64Array;
  let sum = 0;
  for (let i = 0; i < part.length; i++) sum += part[i]!;
  setSharedMemoryRegion(region, [new Float64Array([sum])], count * 8 + worker * 8);
  destroySharedMemoryRegion(region); // only attached: the region stays for the parent
  process.send!({ worker, pid: process.pid, attachMicros, sum } satisfies Report, () => process.exit(0));
}

if (process.argv[2] === 'child') child(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]));
else await parent();
