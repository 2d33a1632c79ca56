// Store publication under contention and under kill -9 (docs/stores.md, "Publication"): writers that
// race on one name, concurrent overwrites, and a writer killed at every step of publishing. Readers
// see the old store or the new one, never a mixture; nothing is left that the writer's watchdog or
// the next gc() does not remove.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { type StoreLeaf, gc, listStores, releaseArrays, shmToArrays, unlink } from '../../src/index.js';
import { type Child, spawnSnippet } from '../helpers/child.js';
import { shmNames, uniqueName, waitFor, watchdogPids } from '../helpers/shm.js';

const storeName = (tag: string): string => uniqueName(tag).slice(0, 24);

/** Store segments (sd-) whose header names one of `pids` as creator and that no store lists. */
function orphansOf(pids: readonly number[]): string[] {
  const listed = new Set(listStores().flatMap((s) => s.arrays.map((a) => a.segment)));
  return shmNames().filter((n) => {
    if (!n.startsWith('sd-') && !n.startsWith('st-')) return false;
    if (listed.has(n)) return false;
    try {
      const head = readFileSync(`/dev/shm/${n}`).subarray(0, 64);
      if (head.subarray(0, 8).toString('latin1') === 'NDSHMSTO') return true; // an unpublished manifest
      return pids.includes(head.readUInt32LE(56));
    } catch {
      return false;
    }
  });
}

/** Writers that wait for "go" and then write the store `name` (a value per writer), `rounds` times. */
function writers(n: number, name: string, options: string): Child[] {
  return Array.from({ length: n }, (_, i) =>
    spawnSnippet(
      `send({ pid: process.pid });
       for (;;) {
         const line = await next();
         if (line !== 'go') return;
         try {
           nd.arraysToShm(args[0], { who: new Int32Array([${i}]), pad: new Float64Array(1 << 17).fill(${i}) }, ${options});
           send({ ok: true });
         } catch (e) {
           send({ ok: false, code: e.code });
         }
       }`,
      [name],
    ),
  );
}

async function round(children: Child[]): Promise<{ ok: boolean; code?: string }[]> {
  for (const c of children) c.send('go'); // released within microseconds of each other
  return Promise.all(children.map((c) => c.message<{ ok: boolean; code?: string }>()));
}

async function end(children: Child[]): Promise<number[]> {
  const pids: number[] = [];
  for (const c of children) {
    pids.push(c.process.pid!);
    c.send('stop');
  }
  await Promise.all(children.map((c) => c.exited));
  return pids;
}

describe('store publication', () => {
  it('of writers racing to create one store, exactly one wins each round; the rest are EEXIST', async () => {
    for (let r = 0; r < 12; r++) {
      const name = storeName(`race${r}`);
      const racers = writers(4, name, '{ persistent: true }');
      await Promise.all(racers.map((c) => c.message()));
      const results = await round(racers);
      assert.equal(results.filter((x) => x.ok).length, 1, `round ${r}: ${JSON.stringify(results)}`);
      assert.deepEqual(results.filter((x) => !x.ok).map((x) => x.code), ['EEXIST', 'EEXIST', 'EEXIST']);
      const winner = results.findIndex((x) => x.ok);
      const t = shmToArrays(name);
      assert.deepEqual((t['who'] as StoreLeaf).data.toArray(), [winner], 'the store is not the winner\'s');
      releaseArrays(t);
      const pids = await end(racers);
      assert.deepEqual(orphansOf(pids), [], `round ${r}: segments of the losers were left`);
      unlink(name);
    }
  });

  it('concurrent overwrites by 3 processes orphan nothing, and readers always see one writer\'s store', async () => {
    const name = storeName('over');
    const children = writers(3, name, '{ persistent: true, overwrite: true }');
    await Promise.all(children.map((c) => c.message()));
    for (let r = 0; r < 15; r++) {
      const results = await round(children);
      assert.ok(results.every((x) => x.ok), JSON.stringify(results));
      const t = shmToArrays(name);
      const who = (t['who'] as StoreLeaf).data.get(0) as number;
      assert.equal((t['pad'] as StoreLeaf).data.get(1000), who, 'a store mixing two writers');
      releaseArrays(t);
    }
    const pids = await end(children);
    assert.deepEqual(orphansOf(pids), [], 'overwritten stores left segments behind');
    unlink(name);
    assert.deepEqual(orphansOf(pids), []);
  });
});

// Each step of a persistent store's publication, and what a kill -9 there leaves: no store (and
// nothing at all), or the complete new store.
const points: [string, 'none' | 'new'][] = [
  ['store.allocated', 'none'],
  ['store.manifest-written', 'none'],
  ['store.marked-persistent', 'none'],
  ['store.published', 'new'],
  ['store.replaced-removed', 'new'],
  ['store.disowning', 'new'],
];

describe('a writer killed while publishing', () => {
  for (const overwrite of [false, true]) {
    for (const [point, outcome] of points) {
      if (point === 'store.replaced-removed' && !overwrite) continue;
      it(`${overwrite ? 'overwriting' : 'creating'}, killed at ${point}: ${outcome === 'new' ? 'the new store, complete' : overwrite ? 'the old store, intact' : 'no store'}; then nothing left over`, async () => {
        const name = storeName('kill');
        if (overwrite) {
          const old = spawnSnippet(`nd.arraysToShm(args[0], { v: new Int32Array([1]), pad: new Float64Array(1 << 17) }, { persistent: true }); send('done');`, [name]);
          await old.message();
          await old.exited;
        }
        const child = spawnSnippet(
          `send({ pid: process.pid }); nd.arraysToShm(args[0], { v: new Int32Array([2]), pad: new Float64Array(1 << 17) }, { persistent: true, overwrite: ${overwrite} }); send('survived');`,
          [name],
          { env: { NDSHM_FAULT: point } },
        );
        const { pid } = await child.message<{ pid: number }>();
        const ended = await child.exited;
        assert.equal(ended.signal, 'SIGKILL', `the fault point ${point} was not reached: ${ended.stderr}`);
        await waitFor(() => watchdogPids(pid).length === 0, 3000, 'the writer\'s watchdog to finish');
        const expected = outcome === 'new' ? 2 : overwrite ? 1 : undefined;
        const found = listStores().find((s) => s.name === name);
        if (expected === undefined) {
          assert.equal(found, undefined, 'a store appeared');
        } else {
          assert.equal(found?.intact, true);
          const t = shmToArrays(name);
          assert.deepEqual((t['v'] as StoreLeaf).data.toArray(), [expected]);
          releaseArrays(t);
        }
        // What the watchdog cannot judge (the segments of a store replaced at the very moment of the
        // kill) is unlisted now, and gc removes it; nothing of this writer survives gc.
        gc();
        assert.deepEqual(orphansOf([pid]), [], 'segments of the killed writer are left');
        if (expected !== undefined) unlink(name);
        assert.deepEqual(orphansOf([pid]), []);
      });
    }
  }
});
