// noParallel(): scoped to the async call (AsyncLocalStorage), safe on exceptions, nestable; the
// factories return SerialPools inside it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';

import { SerialPool, noParallel, parallelEnabled, processPool, threadPool } from '../../src/index.js';
import { errorCode } from '../helpers/errors.js';
import { task } from './util.js';

describe('noParallel', () => {
  it('inside it, across awaits, the factories return SerialPools and parallelEnabled() is false; outside, nothing changed', async () => {
    assert.equal(parallelEnabled(), true);
    const kinds = await noParallel(async () => {
      assert.equal(parallelEnabled(), false);
      await tick();
      const p = processPool({ size: 2 });
      const t = threadPool();
      await tick();
      assert.equal(parallelEnabled(), false);
      assert.ok(p instanceof SerialPool && t instanceof SerialPool);
      const inTask = await p.apply(task('parallel'), []);
      await p.terminate();
      await t.terminate();
      return [p.kind, t.kind, inTask];
    });
    assert.deepEqual(kinds, ['serial', 'serial', false]);
    assert.equal(parallelEnabled(), true);
    const p = threadPool({ size: 1 });
    assert.equal(p.kind, 'thread');
    await p.terminate();
  });

  it('concurrent callers are independent: one inside, one outside, interleaved', async () => {
    const seen: string[] = [];
    await Promise.all([
      noParallel(async () => {
        for (let i = 0; i < 5; i++) {
          seen.push(`in:${parallelEnabled()}`);
          await tick();
        }
      }),
      (async () => {
        for (let i = 0; i < 5; i++) {
          seen.push(`out:${parallelEnabled()}`);
          await tick();
        }
      })(),
    ]);
    assert.deepEqual(seen.filter((s) => s.startsWith('in')), Array(5).fill('in:false'));
    assert.deepEqual(seen.filter((s) => s.startsWith('out')), Array(5).fill('out:true'));
  });

  it('an exception inside it (sync or async) leaves parallelism on; scopes nest; a sync fn returns its value', async () => {
    assert.throws(() => noParallel(() => {
      throw new Error('sync');
    }), /sync/);
    assert.equal(parallelEnabled(), true);
    await assert.rejects(noParallel(async () => {
      await tick();
      throw new Error('async');
    }), /async/);
    assert.equal(parallelEnabled(), true);
    assert.equal(noParallel(() => noParallel(() => parallelEnabled())), false);
    assert.equal(noParallel(() => 42), 42);
    assert.equal(errorCode(() => noParallel(5 as unknown as () => void)), 'EINVAL');
  });

  it('`using _ = noParallel()` covers its block, across awaits and throws, and nests', async () => {
    async function inner(): Promise<boolean[]> {
      using _ = noParallel();
      const a = parallelEnabled();
      await tick();
      return [a, parallelEnabled()];
    }
    assert.deepEqual(await inner(), [false, false]);
    await tick();
    assert.equal(parallelEnabled(), true);
    async function throwing(): Promise<void> {
      using _ = noParallel();
      await tick();
      throw new Error('inside');
    }
    await assert.rejects(throwing(), /inside/);
    assert.equal(parallelEnabled(), true);
    {
      using _a = noParallel();
      {
        using _b = noParallel();
        assert.equal(parallelEnabled(), false);
      }
      assert.equal(parallelEnabled(), false, 'the outer scope is still on');
    }
    assert.equal(parallelEnabled(), true);
  });
});
