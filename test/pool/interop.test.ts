// Arrays travel by handle through other pool libraries too (devDependencies only): packArrays in the
// task, unpackArrays in the worker, and back. The caller sees the worker's writes, and adopts the
// array the worker made ('remote'), which outlives the pool.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Piscina } from 'piscina';
import { Tinypool } from 'tinypool';
import workerpool from 'workerpool';

import { SharedNDArray, packArrays, unpackArrays } from '../../src/index.js';
import { exists } from '../helpers/shm.js';

const worker = new URL('./interop-worker.js', import.meta.url);
const wpScript = fileURLToPath(new URL('./interop-workerpool.js', import.meta.url));

interface Library {
  name: string;
  run(message: unknown): Promise<unknown>;
  end(): Promise<unknown>;
}

function libraries(): Library[] {
  const piscina = new Piscina({ filename: worker.href, maxThreads: 1 });
  const tinyThreads = new Tinypool({ filename: worker.href, maxThreads: 1 });
  const tinyProcesses = new Tinypool({ filename: worker.href, maxThreads: 1, runtime: 'child_process' });
  const wpProcess = workerpool.pool(wpScript, { workerType: 'process', maxWorkers: 1 });
  const wpThread = workerpool.pool(wpScript, { workerType: 'thread', maxWorkers: 1 });
  return [
    { name: 'piscina (threads)', run: (m) => piscina.run(m), end: () => piscina.destroy() },
    { name: 'tinypool (worker_threads)', run: (m) => tinyThreads.run(m), end: () => tinyThreads.destroy() },
    { name: 'tinypool (child_process)', run: (m) => tinyProcesses.run(m), end: () => tinyProcesses.destroy() },
    { name: 'workerpool (process)', run: (m) => wpProcess.exec('fillAndMake', [m]) as unknown as Promise<unknown>, end: () => wpProcess.terminate() as unknown as Promise<unknown> },
    { name: 'workerpool (thread)', run: (m) => wpThread.exec('fillAndMake', [m]) as unknown as Promise<unknown>, end: () => wpThread.terminate() as unknown as Promise<unknown> },
  ];
}

describe('handles through other pool libraries', () => {
  for (const [i, lib] of libraries().entries()) {
    it(lib.name, async () => {
      try {
        using a = SharedNDArray.zeros([4], 'float64');
        const result = await lib.run(packArrays({ a, v: i + 2 }));
        const { made } = unpackArrays<{ made: SharedNDArray }>(result);
        assert.deepEqual(a.toArray(), [i + 2, i + 2, i + 2, i + 2], 'the worker wrote into the caller\'s array');
        await lib.end();
        assert.deepEqual(made.toArray(), [i + 2, i + 3], 'the array the worker made outlives it');
        assert.equal(made.scope, 'local', 'the caller adopted it');
        const name = made.name!;
        made.release();
        assert.ok(!exists(name));
      } finally {
        await lib.end();
      }
    });
  }
});
