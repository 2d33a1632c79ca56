// The glob store: values by key, readable in pool workers, worker threads and unrelated processes;
// updates seen by running workers; only the storing thread changes or removes a key; nothing is
// left when it ends, kill -9 included. And globStoreAttributes: instances cross with keys only.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Counter, type Pool, SharedNDArray, globRead, globRemove, globStore, globUpdate, isNdshmError } from '../../src/index.js';
import { runSnippet, spawnSnippet } from '../helpers/child.js';
import { errorCode } from '../helpers/errors.js';
import { exists, waitFor } from '../helpers/shm.js';
import { Loose, Mesh, Splines } from './mesh.js';
import { kinds, makePool, task } from './util.js';

describe('glob store', () => {
  it('stores, reads (the same object in the storing thread), updates and removes; keys are segment names', () => {
    using a = SharedNDArray.from([1, 2, 3]);
    const value = { a, n: 1, m: new Map([['k', 1n]]) };
    const key = globStore(value);
    assert.match(key, /^ndg-[A-Za-z0-9_-]{12}$/);
    assert.ok(exists(key));
    assert.equal(globRead(key), value);
    globUpdate(key, 'second');
    assert.equal(globRead(key), 'second');
    globRemove(key);
    assert.ok(!exists(key));
    assert.equal(errorCode(() => globRead(key)), 'ENOENT');
    assert.equal(errorCode(() => globRemove(key)), 'ENOENT');
    assert.equal(errorCode(() => globUpdate(key, 1)), 'ENOENT');
    assert.notEqual(globStore(1), globStore(1), 'every store gets its own key');
  });

  it('refuses values that cannot be serialized, and keys that are not glob keys (EINVAL, EBADHEADER)', () => {
    assert.equal(errorCode(() => globStore({ f: () => 1 })), 'EINVAL');
    assert.equal(errorCode(() => globRead('nd-abc')), 'EINVAL');
    assert.equal(errorCode(() => globRead(42 as unknown as string)), 'EINVAL');
    assert.equal(errorCode(() => globRead('ndg-../../etc')), 'EINVAL');
    using fake = SharedNDArray.zeros([256], 'uint8', { name: `ndg-fake${process.pid}`.slice(0, 30) });
    assert.equal(errorCode(() => globRead(fake.name!)), 'EBADHEADER');
  });

  for (const kind of kinds) {
    describe(`in a ${kind} pool`, () => {
      let pool: Pool;
      before(() => {
        pool = makePool(kind);
      });
      after(async () => {
        await pool.terminate();
      });

      it('a worker reads the value, its arrays as zero-copy views', async () => {
        using a = SharedNDArray.zeros([4]);
        const key = globStore({ a, label: 'x' });
        try {
          const got = (await pool.apply(task('readGlob'), [key])) as { a: SharedNDArray; label: string };
          assert.equal(got.label, 'x');
          got.a.set(0, 5);
          assert.equal(a.get(0), 5, 'the array read from the store is the stored one');
        } finally {
          globRemove(key);
        }
      });

      it('an update is seen by a running worker at its next read, without a restart', async () => {
        const key = globStore({ v: 1 });
        try {
          using c = Counter.create();
          const p = pool.apply(task('awaitGlobChange'), [key, c]);
          await c.waitFor(1);
          globUpdate(key, { v: 2 });
          assert.deepEqual(await p, [{ v: 1 }, { v: 2 }]);
        } finally {
          globRemove(key);
        }
      });

      it(`only the storing thread updates or removes (ENOTOWNER${kind === 'serial' ? ', except in SerialPool, which is that thread' : ''}); a removed key reads as ENOENT`, async () => {
        const key = globStore('mine');
        const expected = kind === 'serial' ? 'no error' : 'ENOTOWNER';
        assert.equal(await pool.apply(task('tryUpdateGlob'), [key]), expected);
        if (kind !== 'serial') {
          assert.equal(await pool.apply(task('tryRemoveGlob'), [key]), 'ENOTOWNER');
          globRemove(key);
        } else {
          assert.equal(await pool.apply(task('tryRemoveGlob'), [key]), 'no error');
        }
        assert.equal(await pool.apply(task('tryReadGlob'), [key]), 'ENOENT');
        assert.ok(!exists(key));
      });

      it('globStoreAttributes: instances cross with keys and arrive as instances with the same attributes', async () => {
        using grid = SharedNDArray.from([1, 2, 3.5]);
        using m = new Mesh(grid, { unit: 'nm', n: 3 }, 'first');
        assert.equal(m.grid, grid);
        assert.deepEqual(Object.keys(m), ['label'], 'the attributes are not own fields');
        const seen = await pool.apply(task('inspectMesh'), [m]);
        assert.deepEqual(seen, { isMesh: true, total: 6.5, unit: 'nm', label: 'first', write: kind === 'serial' ? 'no error' : 'ENOTOWNER' });
        if (kind === 'serial') m.meta = { unit: 'nm', n: 3 };
        const back = (await pool.apply(task('returnMesh'), [m])) as Mesh;
        assert.ok(back instanceof Mesh);
        assert.equal(back.total(), 6.5);
        assert.equal(back.meta!.unit, 'nm');
        using s = new Splines([1, 2, 3]);
        assert.deepEqual(await pool.apply(task('inspectSplines'), [s]), { isSplines: true, knots: [1, 2, 3], order: 3 });
        const l = new Loose();
        l.values = [4, 5];
        assert.deepEqual(await pool.apply(task('inspectLoose'), [l]), { values: [4, 5], name: 'loose' });
        l.values = undefined;
      });
    });
  }

  it('a corrupt value (bytes someone overwrote) is EBADHEADER for its readers, never a crash', async () => {
    const key = globStore({ some: 'value', n: [1, 2, 3] });
    const pool = makePool('thread', { size: 1 });
    try {
      using anchor = SharedNDArray.open(key);
      const bytes = anchor.data as Uint8Array;
      const name = Buffer.from(bytes.subarray(64, 96)).toString('latin1').replace(/\0+$/, '');
      using data = SharedNDArray.open(name);
      (data.data as Uint8Array).fill(0xff);
      assert.equal(await pool.apply(task('tryReadGlob'), [key]), 'EBADHEADER');
    } finally {
      await pool.terminate();
      globRemove(key);
    }
  });

  it('an unrelated process reads a key by name; it is refused updates and removal (ENOTOWNER)', async () => {
    using a = SharedNDArray.from([7, 8]);
    const key = globStore({ a, s: 'shared' });
    try {
      const r = await runSnippet(
        `const v = nd.globRead(args[0]);
         let update = 'no error', remove = 'no error';
         try { nd.globUpdate(args[0], 1); } catch (e) { update = e.code; }
         try { nd.globRemove(args[0]); } catch (e) { remove = e.code; }
         send({ s: v.s, a: v.a.toArray(), update, remove });`,
        [key],
      );
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.messages[0], { s: 'shared', a: [7, 8], update: 'ENOTOWNER', remove: 'ENOTOWNER' });
      assert.deepEqual(globRead(key), { a, s: 'shared' });
    } finally {
      globRemove(key);
    }
  });

  it('nothing is left when the storing process ends, kill -9 included; readers then get ENOENT', async () => {
    for (const how of ['exit', 'SIGKILL'] as const) {
      const child = spawnSnippet(
        `const a = nd.SharedNDArray.from([1, 2]);
         const key = nd.globStore({ a, big: 'x'.repeat(10000) });
         send({ key, array: a.name });
         await next();`,
      );
      const { key, array } = await child.message<{ key: string; array: string }>();
      assert.equal((globRead(key) as { big: string }).big.length, 10000);
      if (how === 'exit') child.send('');
      else child.process.kill('SIGKILL');
      await child.exited;
      await waitFor(() => !exists(key) && !exists(array), 10000, `the store of a process ended by ${how} to be removed`);
      // After an exit, a reader learns it at its next read; after kill -9 it keeps what it read.
      assert.equal(errorCode(() => globRead(key)), how === 'exit' ? 'ENOENT' : 'no error');
    }
  });

  it('dispose removes an instance\'s keys; undefined attributes have none', () => {
    using grid = SharedNDArray.from([1]);
    const m = new Mesh(grid, { unit: 'u', n: 1 }, 'l');
    m.meta = { unit: 'v', n: 2 };
    assert.equal(m.meta.unit, 'v');
    const s = new Splines([]);
    s.knots = undefined;
    m[Symbol.dispose]();
    assert.equal(m.meta, undefined);
    assert.ok(isNdshmError(new Error('x')) === false);
  });
});

