// worker.terminate() with asynchronous waits pending: the environment's cleanup hook stops and joins
// its waiter thread; nothing crashes, no thread is left behind, and the objects stay usable elsewhere.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { Barrier, Counter, Mutex } from '../../src/index.js';
import { sleep, startWorker } from './util.js';

function threads(): number {
  return Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
}

describe('sync teardown', () => {
  it('terminating workers with pending lock(), wait() and waitFor() leaves no waiter thread and breaks nothing', async () => {
    const m = Mutex.create();
    const c = Counter.create();
    const b = Barrier.create(3, { member: false });
    m.lockSync();
    const before = threads();
    for (let k = 0; k < 5; k++) {
      const w = startWorker(
        `const m = nd.Mutex.open(data.m); const c = nd.Counter.open(data.c); const b = nd.Barrier.open(data.b, { member: false });
         const pending = [m.lock(), c.waitFor(1e9), b.wait()];
         pending.forEach((p) => p.catch(() => {}));
         post({ waiting: true });
         await new Promise(() => setInterval(() => {}, 1000));`,
        { m: m.handle, c: c.handle, b: b.handle },
      );
      assert.deepEqual(await w.message(), { waiting: true });
      await sleep(20);
      await w.worker.terminate();
    }
    await sleep(100);
    assert.equal(threads(), before, 'every worker and waiter thread is gone');
    // (The workers were not barrier members, so their deaths are not detected and their arrivals
    // stay counted: docs/sync.md says so. The mutex and the counter are untouched.)
    m.unlock();
    assert.deepEqual(await m.lock({ timeoutMs: 1000 }), { abandoned: false });
    m.unlock();
    assert.equal(c.increment(), 1);
    m.close();
    c.close();
    b.close();
  });
});
