// The Cluster API in one process (this test's own /dev/shm is its host): publication is atomic and
// never loses an update, a failed publication leaves nothing, gc() collects what died half-way,
// names and options are checked, every failure is an NdshmError.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';

import { Cluster } from '../../src/cluster/index.js';
import { type StoreLeaf, arraysToShm, isNdshmError, listStores, releaseArrays, shmToArrays, unlink } from '../../src/index.js';
import { spawnChild } from '../helpers/child.js';
import { type WorkerMessage, clusterFixture, clusterSkip, float64Data, freshBucket, sha256, worker } from './setup.js';
import { Proxy } from './proxy.js';

const skip = clusterSkip(false);
const fx = clusterFixture(skip);

async function objectNames(url: string, bucket: string): Promise<string[]> {
  const nc = await connect({ servers: url });
  try {
    const os = await new Objm(nc).open(bucket);
    return (await os.list()).filter((i) => !i.deleted).map((i) => i.name).sort();
  } finally {
    await nc.close();
  }
}

const isCode = (code: string) => (err: unknown) => isNdshmError(err) && err.code === code;

describe('Cluster API', { skip }, () => {
  it('EEXIST without overwrite (nothing uploaded); publish from a local store; the publishing host attaches it', async () => {
    const bucket = freshBucket('api');
    const c = await fx.connect({ bucket, hostId: 'self' });
    const data = float64Data(1 << 18); // 2 MiB
    arraysToShm('apisrc', { x: data, meta: { id: { data: new Int32Array([7]), attrs: { note: 'n' } } } }, { attrs: { run: 7 } });
    try {
      const info = await c.publish('api', 'apisrc');
      assert.deepEqual(info.arrays.map((a) => a.path.join('/')), ['x', 'meta/id']);
      assert.deepEqual(info.attrs, Object.assign(Object.create(null), { run: 7 }));
      const objects = await objectNames(fx.server().url, bucket);
      await assert.rejects(c.publish('api', 'apisrc'), isCode('EEXIST'));
      assert.deepEqual(await objectNames(fx.server().url, bucket), objects, 'EEXIST before any upload');
      // this host published it from "apisrc"; a store named "api" does not exist here: fetched once
      using t = await c.open('api');
      assert.equal(sha256((t['x'] as StoreLeaf).data.data), sha256(data));
      assert.equal(c.stats().fetches, 1);
      // the source store is recognised as the current generation when it has the remote name
      const again = await c.publish('apisrc', 'apisrc');
      using same = await c.open('apisrc');
      assert.equal(c.stats().fetches, 1, 'the source store is current: nothing fetched');
      const direct = shmToArrays('apisrc');
      assert.equal((same['x'] as StoreLeaf).meta.segment, (direct['x'] as StoreLeaf).meta.segment);
      releaseArrays(direct);
      assert.equal((await c.info('apisrc'))!.generation, again.generation);
    } finally {
      unlink('apisrc');
    }
  });

  it('concurrent overwrites: each publisher replaces exactly one generation, none is lost or orphaned', async () => {
    const bucket = freshBucket('race');
    const a = await fx.connect({ bucket, hostId: 'a', graceMs: 200 });
    const b = await fx.connect({ bucket, hostId: 'b', graceMs: 200 });
    await a.publish('r', { x: new Float64Array(1000) });
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? a : b).publish('r', { x: new Float64Array(1000).fill(i) }, { overwrite: true })),
    );
    const revisions = results.map((r) => r.revision).sort((x, y) => x - y);
    assert.equal(new Set(revisions).size, 8, `every update got its own revision: ${revisions.join(', ')}`);
    const current = (await a.info('r'))!;
    assert.equal(current.revision, revisions.at(-1));
    await sleep(1500); // the grace period, then the replaced generations' objects are gone
    assert.deepEqual(await objectNames(fx.server().url, bucket), current.segments.map((s) => s.object));
    assert.deepEqual(await a.gc({ graceMs: 0, dryRun: true }), []);
  });

  it('list() names every store while another publisher overwrites them (a listing is a snapshot)', async () => {
    // nats.js's kv.keys() streams through a consumer that could end before a key being updated came
    // by: a store missing from a listing. Listings run here while another connection overwrites
    // every store.
    const bucket = freshBucket('snap');
    const a = await fx.connect({ bucket, hostId: 'a', graceMs: 60_000 });
    const b = await fx.connect({ bucket, hostId: 'b', graceMs: 60_000 });
    const names = ['s0', 's1', 's2', 's3'];
    for (const n of names) await a.publish(n, { x: new Float64Array(16) });
    let stop = false;
    let overwrites = 0;
    const writers = [0, 1].map((w) =>
      (async () => {
        for (let i = w; !stop; i += 2) {
          await b.publish(names[i % names.length]!, { x: new Float64Array(16).fill(i) }, { overwrite: true });
          overwrites++;
        }
      })(),
    );
    try {
      // three listers at once, 100 listings each
      await Promise.all(
        [0, 1, 2].map(async (l) => {
          for (let round = 0; round < 100; round++) {
            const listed = (await a.list()).map((s) => s.name).sort();
            assert.deepEqual(listed, names, `lister ${l}, listing ${round} (after ${overwrites} overwrites)`);
          }
        }),
      );
    } finally {
      stop = true;
      await Promise.all(writers);
    }
    assert.ok(overwrites > 0, 'the listings ran while stores were overwritten');
    for (const n of names) {
      using t = await a.open(n);
      assert.equal((t['x'] as StoreLeaf).data.data.length, 16);
    }
  });

  it('a failed (aborted) publication leaves no manifest and no objects; gc removes what a killed publisher left', async () => {
    const bucket = freshBucket('fail');
    const c = await fx.connect({ bucket, hostId: 'self', chunkSize: 1 << 20 });
    const ac = new AbortController();
    await assert.rejects(
      c.publish('f', { x: float64Data(1 << 21) }, { signal: ac.signal, progress: (done) => done > 4 << 20 && ac.abort() }),
      isCode('EABORTED'),
    );
    assert.equal(await c.info('f'), null);
    assert.deepEqual(await objectNames(fx.server().url, bucket), []);

    // a publisher killed mid-upload: its objects (and chunks without an object) stay until gc
    const proxy = await Proxy.start(fx.server().port, { rate: 4 << 20 });
    try {
      const child = spawnChild(worker, [JSON.stringify({ servers: proxy.url, bucket, hostId: 'killed', chunkSize: 1 << 20 })], { timeoutMs: 60_000 });
      await child.message<WorkerMessage>((m) => m.op === 'ready');
      child.send(JSON.stringify({ op: 'publish', name: 'k', count: 3 << 20, seed: 1 }));
      await child.message<WorkerMessage>((m) => m.op === 'progress' && (m['done'] as number) > 8 << 20);
      child.process.kill('SIGKILL');
      await child.exited;
    } finally {
      await proxy.close();
    }
    assert.equal(await c.info('k'), null, 'no manifest: no host ever sees it');
    assert.deepEqual(await c.gc({ dryRun: true }), [], 'younger than the grace period: kept');
    const removed = await c.gc({ graceMs: 0 });
    assert.ok(removed.length > 0 && removed.every((e) => e.removed), JSON.stringify(removed));
    assert.deepEqual(await objectNames(fx.server().url, bucket), []);
    assert.deepEqual(await c.gc({ graceMs: 0 }), []);
  });

  it('names with dots, listing, unpublish, ENOENT', async () => {
    const bucket = freshBucket('names');
    const c = await fx.connect({ bucket, hostId: 'self' });
    for (const name of ['.a', 'b.', 'c..d', '...e']) await c.publish(name, { v: new Uint8Array([name.length]) });
    assert.deepEqual((await c.list()).map((i) => i.name), ['...e', '.a', 'b.', 'c..d'].sort());
    for (const name of ['.a', 'c..d']) {
      using t = await c.open(name);
      assert.equal((t['v'] as StoreLeaf).data.get(0), name.length);
    }
    assert.equal(await c.unpublish('b.'), true);
    assert.equal(await c.info('b.'), null);
    await assert.rejects(c.open('b.'), isCode('ENOENT'));
    await assert.rejects(c.open('nothing'), isCode('ENOENT'));
    await assert.rejects(c.open('a/b'), isCode('EINVAL'));
    await assert.rejects(c.publish('x'.repeat(25), { v: [1] }), isCode('EINVAL'));
  });

  it('a local store that is not a copy is not replaced unless asked', async () => {
    const bucket = freshBucket('local');
    const c = await fx.connect({ bucket, hostId: 'self' });
    await c.publish('mine', { v: new Float32Array([1, 2]) });
    arraysToShm('mine', { other: new Float32Array([9]) });
    try {
      await assert.rejects(c.open('mine'), (err) => isCode('EEXIST')(err) && /replaceLocal/.test((err as Error).message));
      using t = await c.open('mine', { replaceLocal: true });
      assert.deepEqual(Object.keys(t), ['v']);
      assert.ok(listStores().some((s) => s.name === 'mine' && (s.attrs['ndshm.remote'] as { bucket: string }).bucket === bucket));
    } finally {
      unlink('mine');
    }
  });

  it('connection and option errors are NdshmErrors', async () => {
    const dead = await import('./server.js').then((m) => m.freePort());
    await assert.rejects(Cluster.connect({ servers: `127.0.0.1:${dead}`, maxReconnectAttempts: 0 }), isCode('EREMOTE'));
    for (const bad of [{ bucket: 'a.b' }, { hostId: 'a/b' }, { chunkSize: 10 }, { replicas: 0 }, { stallTimeoutMs: -1 }, { graceMs: 2 ** 31 }, { stallTimeoutMs: 2 ** 32 }]) {
      await assert.rejects(Cluster.connect({ servers: fx.server().url, ...bad }), isCode('EINVAL'), JSON.stringify(bad));
    }
    const c = await fx.connect({ bucket: freshBucket('opts') });
    await assert.rejects(c.publish('x', { v: [1] }, { bogus: 1 } as never), isCode('EINVAL'));
    await assert.rejects(c.open('x', { timeoutMs: 'soon' } as never), isCode('EINVAL'));
    // longer than a timer can wait (it would fire at once, or throw a RangeError)
    await assert.rejects(c.open('x', { timeoutMs: 2 ** 31 }), isCode('EINVAL'));
    await assert.rejects(c.waitReplicated('x', { hosts: 1, timeoutMs: 2 ** 32 }), isCode('EINVAL'));
    await assert.rejects(c.replicate({ resyncMs: 2 ** 31 }), isCode('EINVAL'));
    await assert.rejects(c.replicate({ stores: 'x' } as never), isCode('EINVAL'));
    await c.close();
    await assert.rejects(c.publish('x', { v: [1] }), isCode('ECLOSED'));
  });
});
