// One suite over the three pool kinds: processPool, threadPool and SerialPool behave the same.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Counter, NdshmError, type Pool, SharedNDArray, arraysToShm, isNdshmError, releaseArrays, shmToArrays, unlink } from '../../src/index.js';
import { exists, uniqueName } from '../helpers/shm.js';
import { add } from './tasks.js';
import { type Kind, kinds, makePool, rejection, task } from './util.js';

for (const kind of kinds) {
  describe(`${kind} pool`, () => {
    let pool: Pool;
    before(() => {
      pool = makePool(kind);
    });
    after(async () => {
      await pool.terminate();
    });

    it('apply: a typed task (defineTask) and a { module, name } task', async () => {
      assert.equal(pool.kind, kind);
      assert.equal(pool.state, 'open');
      assert.equal(await pool.apply(add, [2, 3]), 5);
      assert.equal(await pool.apply(task('echo'), ['x']), 'x');
    });

    it('arguments and results are structured clones (Map, Set, bigint, typed arrays, Date, cycles, a "__proto__" key)', async () => {
      const cyclic: Record<string, unknown> = { name: 'c' };
      cyclic['self'] = cyclic;
      const bare = Object.assign(Object.create(null) as Record<string, unknown>, { __proto__: 1, k: 2 });
      Object.defineProperty(bare, '__proto__', { value: 1, enumerable: true });
      const value = { m: new Map([[1, 'a']]), s: new Set([2n]), big: 2n ** 70n, f: new Float32Array([1.5, 2]), d: new Date(5), u: undefined, n: null, cyclic, bare };
      const back = (await pool.apply(task('echo'), [value])) as typeof value;
      assert.deepEqual(back.m, value.m);
      assert.deepEqual(back.s, value.s);
      assert.equal(back.big, value.big);
      assert.deepEqual(back.f, value.f);
      assert.equal(back.d.getTime(), 5);
      assert.ok('u' in back && back.u === undefined);
      assert.equal((back.cyclic as Record<string, unknown>)['self'], back.cyclic);
      assert.equal(Object.getOwnPropertyDescriptor(back.bare, '__proto__')?.value, 1);
      const arg = { n: 1, list: [1] };
      assert.equal(await pool.apply(task('mutate'), [arg]), 2);
      assert.deepEqual(arg, { n: 1, list: [1] }, 'the caller\'s argument is not changed (the task got a copy)');
    });

    it('map and starmap keep the order, whatever the chunk size; an empty input gives []', async () => {
      const items = Array.from({ length: 23 }, (_, i) => i);
      const twice = items.map((i): [number, number] => [i, i]);
      for (const chunksize of [undefined, 1, 4, 100]) {
        assert.deepEqual(await pool.map(task('echo'), items, { chunksize }), items);
        assert.deepEqual(await pool.starmap(add, twice, { chunksize }), items.map((i) => 2 * i));
      }
      assert.deepEqual(await pool.map(task('echo'), new Set(['a', 'b'])), ['a', 'b']);
      assert.deepEqual(await pool.map(task('echo'), []), []);
    });

    it('imap yields in order from an iterable or an async iterable, and stops early on break', async () => {
      const got: unknown[] = [];
      for await (const v of pool.imap(task('echo'), [1, 2, 3, 4, 5])) got.push(v);
      assert.deepEqual(got, [1, 2, 3, 4, 5]);
      async function* gen(): AsyncGenerator<number> {
        for (let i = 0; i < 6; i++) yield i;
      }
      const fromAsync: unknown[] = [];
      for await (const v of pool.imap(task('echo'), gen(), { chunksize: 2 })) fromAsync.push(v);
      assert.deepEqual(fromAsync, [0, 1, 2, 3, 4, 5]);
      let taken = 0;
      let produced = 0;
      function* endless(): Generator<number> {
        for (;;) yield produced++;
      }
      for await (const v of pool.imap(task('echo'), endless())) {
        assert.equal(v, taken++);
        if (taken === 10) break;
      }
      assert.ok(produced < 40, `imap read ${produced} items of an endless input for 10 results`);
      assert.equal(await pool.apply(add, [1, 1]), 2, 'the pool goes on');
    });

    it('a task\'s error rejects with ETASK and the worker\'s error (stack, code, fields) as cause; later tasks are unaffected', async () => {
      const err = await rejection(pool.apply(task('fail'), ['boom', 'EBOOM']), 'ETASK');
      const cause = err.cause as Error & { code: string; detail: { n: number } };
      assert.ok(cause instanceof Error);
      assert.equal(cause.message, 'boom');
      assert.equal(cause.code, 'EBOOM');
      assert.deepEqual(cause.detail, { n: 7 });
      assert.match(cause.stack ?? '', /at fail \(.*tasks\.js/);
      assert.match(err.message, /"fail" of tasks\.js/);
      const later = await rejection(pool.apply(task('failLater'), ['async']), 'ETASK');
      assert.equal((later.cause as Error).name, 'RangeError');
      assert.equal((await rejection(pool.apply(task('throwString'), []), 'ETASK')).cause, 'just a string');
      const nd = await rejection(pool.apply(task('openMissing'), []), 'ETASK');
      assert.ok(isNdshmError(nd.cause, 'ENOENT'), 'an ndshm error in the task arrives as an NdshmError with its code');
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => pool.apply(add, [i, 1])));
      assert.deepEqual(results, [1, 2, 3, 4, 5, 6, 7, 8]);
    });

    it('map rejects with the first failing item\'s error; imap yields the results before it, then throws', async () => {
      await rejection(pool.starmap(task('fail'), [['a', 'X'], ['b', 'Y']], { chunksize: 1 }), 'ETASK');
      const got: unknown[] = [];
      const failing = (async () => {
        for await (const v of pool.imap(task('echo'), [1, 2, { f: () => 3 }, 4])) got.push(v);
      })();
      await rejection(failing, 'EINVAL');
      assert.deepEqual(got, [1, 2]);
    });

    it('tasks that cannot be loaded, arguments that cannot be sent, results that cannot be returned', async () => {
      await rejection(pool.apply(task('noSuchExport'), []), 'ETASK');
      await rejection(pool.apply({ module: new URL('./no-such-module.js', import.meta.url).href, name: 'x' }, []), 'ETASK');
      await rejection(pool.apply(task('echo'), [() => 1]), 'EINVAL');
      await rejection(pool.apply(task('echo'), [{ s: Symbol('s') }]), 'EINVAL');
      const e = await rejection(pool.apply(task('unsendable'), []), 'ETASK');
      assert.ok(isNdshmError(e.cause, 'EINVAL'));
      await rejection(pool.apply({ module: 'no-scheme', name: 'x' }, []), 'EINVAL');
      await rejection(pool.apply(task(''), []), 'EINVAL');
      await rejection(pool.apply(add, 'not an array' as unknown as [number, number]), 'EINVAL');
      assert.equal(await pool.apply(add, [1, 2]), 3);
    });

    it('applyAsync: callback, errorCallback, ready, successful, get, wait', async () => {
      const seen: unknown[] = [];
      const ok = pool.applyAsync(add, [1, 2], { callback: (r) => seen.push(r) });
      const bad = pool.applyAsync(task('fail'), ['no', 'E'], { errorCallback: (e) => seen.push(e.code) });
      if (!bad.ready()) assert.throws(() => bad.successful(), (e: unknown) => isNdshmError(e, 'EINVAL'));
      await ok.wait();
      await bad.wait();
      assert.ok(ok.ready() && bad.ready());
      assert.equal(ok.successful(), true);
      assert.equal(bad.successful(), false);
      assert.equal(await ok.get(), 3);
      assert.equal(await ok, 3);
      await rejection(bad.get(), 'ETASK');
      assert.deepEqual(seen.sort(), [3, 'ETASK'].sort());
      assert.throws(() => pool.applyAsync(add, [1, 2], { callback: 5 as unknown as () => void }), (e: unknown) => isNdshmError(e, 'EINVAL'));
    });

    it('a SharedNDArray argument is shared, not copied: what the task writes, the caller sees; a returned view is over the caller\'s memory', async () => {
      using a = SharedNDArray.zeros([1000], 'float64');
      const back = await pool.apply(task('fill'), [a.slice('100:200'), 2.5]);
      assert.equal(a.get(150), 2.5);
      assert.equal(a.get(99), 0);
      assert.ok(back instanceof SharedNDArray);
      assert.deepEqual(back.shape, [100]);
      back.set(0, 9);
      assert.equal(a.get(100), 9, 'the result is a view of the caller\'s own array');
      assert.equal(await pool.apply(task('sum'), [a]), 2.5 * 99 + 9);
    });

    it('arrays a task creates are handed over: they outlive the worker and go with the caller\'s release', async () => {
      const own = makePool(kind);
      const made = (await own.apply(task('make'), [5, 1.5])) as SharedNDArray;
      const two = (await own.apply(task('makeTwo'), [4])) as { whole: SharedNDArray; head: SharedNDArray; n: number };
      own.close();
      await own.join();
      assert.deepEqual(made.toArray(), [1.5, 1.5, 1.5, 1.5, 1.5]);
      assert.equal(made.scope, 'local', 'the caller owns it');
      assert.deepEqual(two.whole.toArray(), [0, 1, 2, 3]);
      assert.deepEqual(two.head.toArray(), [0, 1]);
      two.head.set(1, 7);
      assert.equal(two.whole.get(1), 7, 'two views of one new array share one mapping');
      const names = [made.name!, two.whole.name!];
      assert.ok(names.every(exists));
      made.release();
      two.whole.release();
      assert.ok(!names.some(exists), 'the caller\'s release removed them');
    });

    it('a store tree, a Counter and a read-only array cross as handles', async () => {
      const store = uniqueName('st').slice(0, 20);
      arraysToShm(store, { a: new Float64Array([1, 2, 3]), g: { b: [4, 5] } });
      const tree = shmToArrays(store);
      try {
        assert.equal(await pool.apply(task('sumTree'), [tree]), 15);
      } finally {
        releaseArrays(tree);
        unlink(store);
      }
      using c = Counter.create();
      await pool.starmap(task('count'), [[c, 2], [c, 3], [c, 4]]);
      assert.equal(c.value, 9);
      using a = SharedNDArray.from([1, 2, 3]);
      using ro = SharedNDArray.open(a.name!, { readOnly: true });
      const e = await rejection(pool.apply(task('fill'), [ro, 1]), 'ETASK');
      assert.ok(isNdshmError(e.cause, 'EROFS'), 'a read-only array stays read-only in the task');
      assert.deepEqual(a.toArray(), [1, 2, 3]);
    });

    it('close(), join(), terminate(), state and await using', async () => {
      const p = makePool(kind);
      await rejection(p.join(), 'EINVAL');
      const pending = p.map(add as never, [], {});
      p.close();
      assert.equal(p.state, 'closed');
      await pending;
      await rejection(p.apply(add, [1, 2]), 'EPOOLCLOSED');
      await rejection(p.map(task('echo'), [1]), 'EPOOLCLOSED');
      await p.join();
      await p.join();
      await p.terminate();
      assert.equal(p.state, 'terminated');
      let disposed: Pool;
      {
        await using q = makePool(kind);
        disposed = q;
        assert.equal(await q.apply(add, [1, 1]), 2);
      }
      assert.equal(disposed.state, 'closed');
    });

    it('terminate() rejects running and queued tasks with EPOOLCLOSED; nothing is left behind', async () => {
      const p = makePool(kind);
      using gate = Counter.create();
      const running = p.apply(task('gate'), [gate, 1, 'never']);
      const queued = Array.from({ length: 4 }, () => p.apply(add, [1, 1]));
      const all = Promise.allSettled([running, ...queued]);
      await p.terminate();
      const outcomes = await all;
      for (const o of outcomes) {
        if (o.status === 'fulfilled') continue; // serial: tasks ahead of the gate may not have been queued behind it
        assert.ok(isNdshmError(o.reason, 'EPOOLCLOSED'), String(o.reason));
      }
      assert.equal(outcomes[0]!.status, 'rejected');
      gate.increment(); // lets a SerialPool's gate task (which this thread cannot stop) end
    });

    it('AbortSignal: aborted before, while queued and while running give EABORTED; the pool goes on', async () => {
      const p = makePool(kind, { size: 1 });
      using gate = Counter.create();
      await rejection(p.apply(add, [1, 2], { signal: AbortSignal.abort('no') }), 'EABORTED');
      const ac = new AbortController();
      const running = p.apply(task('gate'), [gate, 1, 'late'], { signal: ac.signal });
      const queued = new AbortController();
      const waiting = p.apply(add, [1, 2], { signal: queued.signal });
      queued.abort();
      await rejection(waiting, 'EABORTED');
      ac.abort(new Error('stop'));
      const e = await rejection(running, 'EABORTED');
      assert.equal((e.cause as Error).message, 'stop');
      gate.increment(); // a SerialPool's running task ends only now; a worker's was ended
      assert.equal(await p.apply(add, [2, 2]), 4);
      const mapped = new AbortController();
      const m = p.starmap(task('gate'), [[gate, 5, 'a'], [gate, 5, 'b']], { signal: mapped.signal });
      mapped.abort();
      await rejection(m, 'EABORTED');
      const warnings: Error[] = [];
      const onWarning = (w: Error): void => void warnings.push(w);
      process.on('warning', onWarning);
      const shared = new AbortController();
      const many = await Promise.all(Array.from({ length: 40 }, (_, i) => p.apply(add, [i, 1], { signal: shared.signal })));
      assert.equal(many.length, 40);
      await new Promise((resolve) => setImmediate(resolve));
      process.off('warning', onWarning);
      assert.deepEqual(warnings.map((w) => w.name), [], 'one signal for many tasks adds one listener');
      await p.terminate();
    });

    if (kind !== 'serial') {
      it('maxTasksPerWorker replaces a worker after that many tasks', async () => {
        const p = makePool(kind, { size: 1, maxTasksPerWorker: 2 });
        const seen = [];
        for (let i = 0; i < 6; i++) seen.push(await p.apply(task('where'), []));
        const ids = seen.map((w) => JSON.stringify(w));
        assert.equal(new Set(ids).size, 3, ids.join(' '));
        assert.equal(ids[0], ids[1]);
        assert.notEqual(ids[1], ids[2]);
        await p.terminate();
      });

      it('a worker knows its pool, its index (kept by its replacement) and the pool size (the host-group hook)', async () => {
        const p = makePool(kind, { size: 2, maxTasksPerWorker: 1 });
        const infos = (await p.map(task('workerInfo'), [1, 2, 3, 4, 5, 6], { chunksize: 1 })) as { pool: string; index: number; size: number; kind: string }[];
        assert.equal(new Set(infos.map((i) => i.pool)).size, 1);
        assert.deepEqual([...new Set(infos.map((i) => i.index))].sort(), [0, 1]);
        assert.ok(infos.every((i) => i.size === 2 && i.kind === kind));
        await p.terminate();
      });
    }
  });
}

describe('pool errors are NdshmErrors with documented codes', () => {
  it('EINVAL for bad options, from the factories and SerialPool', async () => {
    for (const k of ['process', 'thread'] as Kind[]) {
      assert.throws(() => makePool(k, { size: 0 }), (e: unknown) => isNdshmError(e, 'EINVAL'));
      assert.throws(() => makePool(k, { sizes: 1 } as never), (e: unknown) => isNdshmError(e, 'EINVAL'));
      assert.throws(() => makePool(k, { maxTasksPerWorker: -1 }), (e: unknown) => isNdshmError(e, 'EINVAL'));
    }
    assert.ok(new NdshmError('ETASK', 'x') instanceof NdshmError);
  });
});
