// Workers that die: kill -9, process.exit, an uncaught exception, workers that cannot start. Only the
// task that was running fails (EWORKERDIED), the pool goes on with a new worker, the tasks the dead
// worker held but had not started run elsewhere, and what the dead worker owned is removed.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Counter, SharedNDArray, isNdshmError } from '../../src/index.js';
import { exists, uniqueName, waitFor } from '../helpers/shm.js';
import { add } from './tasks.js';
import { makePool, rejection, task } from './util.js';

describe('process pool: kill -9', () => {
  it('kill -9 of a worker mid-task fails only that task (EWORKERDIED); the tasks it held run on a new worker; what it owned is removed', async () => {
    const pool = makePool('process', { size: 1 });
    try {
      using started = Counter.create();
      using info = SharedNDArray.zeros([2]);
      const own = uniqueName('own');
      const victim = pool.apply(task('hang'), [started, info, own]);
      const queued = [pool.apply(add, [1, 1]), pool.apply(add, [2, 2]), pool.apply(add, [3, 3])];
      await started.waitFor(1);
      assert.ok(exists(own), 'the worker made its own array');
      process.kill(info.get(0) as number, 'SIGKILL');
      const e = await rejection(victim, 'EWORKERDIED');
      assert.match(e.message, /SIGKILL/);
      assert.deepEqual(await Promise.all(queued), [2, 4, 6], 'the held and queued tasks ran on a new worker');
      assert.equal(await pool.apply(add, [5, 5]), 10);
      await waitFor(() => !exists(own), 10000, "the killed worker's array to be removed by its watchdog");
    } finally {
      await pool.terminate();
    }
  });
});

for (const kind of ['process', 'thread'] as const) {
  describe(`${kind} pool: workers that die`, () => {
    it('an exception nobody catches, after the task began, ends the worker, never the pool (EWORKERDIED with the exception as cause)', async () => {
      const pool = makePool(kind, { size: 1 });
      try {
        const e = await rejection(pool.apply(task('uncaughtLater'), ['late boom']), 'EWORKERDIED');
        assert.match(String((e.cause as Error | undefined)?.message), /late boom/);
        assert.equal(await pool.apply(add, [1, 2]), 3);
      } finally {
        await pool.terminate();
      }
    });

    it('process.exit() in a task: EWORKERDIED with the exit code; the tasks the worker held run on a new one', async () => {
      const pool = makePool(kind, { size: 1 });
      try {
        const dying = pool.apply(task('exitNow'), [3]);
        const held = [pool.apply(add, [1, 1]), pool.apply(add, [2, 2])];
        const d = await rejection(dying, 'EWORKERDIED');
        assert.match(d.message, /exit code 3/);
        assert.deepEqual(await Promise.all(held), [2, 4]);
      } finally {
        await pool.terminate();
      }
    });

    it('terminate() while a task runs: EPOOLCLOSED, and the worker\'s own arrays are removed', async () => {
      const pool = makePool(kind, { size: 1 });
      using started = Counter.create();
      using info = SharedNDArray.zeros([2]);
      const own = uniqueName('tm');
      const hung = pool.apply(task('hang'), [started, info, own]);
      await started.waitFor(1);
      assert.ok(exists(own));
      const ac = new AbortController();
      const held = pool.apply(add, [4, 4], { signal: ac.signal });
      ac.abort(); // the unit the worker holds is withdrawn, not the running one
      await rejection(held, 'EABORTED');
      hung.catch(() => undefined);
      await pool.terminate();
      await rejection(hung, 'EPOOLCLOSED');
      await waitFor(() => !exists(own), 10000, "the ended worker's array to be removed");
    });

    it('workers that cannot start fail the tasks (EWORKERDIED) instead of being restarted forever', async () => {
      const pool = makePool(kind, { size: 2, execArgv: ['--no-such-node-option'] });
      try {
        const results = await Promise.allSettled([pool.apply(add, [1, 1]), pool.apply(add, [2, 2]), pool.apply(add, [3, 3])]);
        for (const r of results) assert.ok(r.status === 'rejected' && isNdshmError(r.reason, 'EWORKERDIED'), String((r as PromiseRejectedResult).reason));
      } finally {
        await pool.terminate();
      }
    });

    it('aborting a running task ends its worker (its arrays go) and the pool goes on', async () => {
      const pool = makePool(kind, { size: 2 });
      try {
        using started = Counter.create();
        using info = SharedNDArray.zeros([2]);
        const own = uniqueName('ab');
        const ac = new AbortController();
        const p = pool.apply(task('hang'), [started, info, own], { signal: ac.signal });
        await started.waitFor(1);
        ac.abort();
        await rejection(p, 'EABORTED');
        await waitFor(() => !exists(own), 10000, "the aborted worker's array to be removed");
        assert.deepEqual(await pool.map(task('echo'), [1, 2, 3]), [1, 2, 3]);
      } finally {
        await pool.terminate();
      }
    });
  });
}
