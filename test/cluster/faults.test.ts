// Faults made to happen: kill -9 of an agent mid-fetch, of the process holding a host's claim, a server
// restart mid-fetch, and the two known weaknesses of nats.js's object store at the pinned version
// (a get that stalls for good when a flow-control reply is lost, nats.js#430; a digest mismatch that
// errors the stream while `error` resolves).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';

import { type Opened, type WorkerMessage, ask, clusterFixture, clusterSkip, event, exitWorker, float64Data, freshBucket, sha256, startWorker } from './setup.js';
import { type StoreLeaf, unlink as unlinkStore } from '../../src/index.js';
import { Proxy } from './proxy.js';
import type { SimHost } from './hosts.js';

const skip = clusterSkip();
const fx = clusterFixture(skip);

async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Nothing of a store in a host's /dev/shm: no manifest, no segment, no claim (after the watchdogs ran). */
async function emptyShm(host: SimHost): Promise<void> {
  await waitUntil(() => host.shm().length === 0, 10_000, `host ${host.id}'s /dev/shm to empty (${host.shm().join(', ')})`);
}

/** Corrupts the last chunk of an object: the message is replaced by one of the same length, first byte flipped. */
async function corruptLastChunk(url: string, bucket: string, object: string): Promise<{ offset: number; length: number }> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const os = await new Objm(js).open(bucket);
    const info = (await os.info(object))!;
    const stream = `OBJ_${bucket}`;
    const last = (await jsm.streams.getMessage(stream, { last_by_subj: `$O.${bucket}.C.${info.nuid}` }))!;
    const bad = new Uint8Array(last.data);
    bad[0] ^= 0xff;
    await jsm.streams.deleteMessage(stream, last.seq);
    await js.publish(`$O.${bucket}.C.${info.nuid}`, bad);
    return { offset: info.size - bad.length, length: bad.length };
  } finally {
    await nc.close();
  }
}

/** Rewrites an object's metadata so that the engine's digest matches `bytes` (the corrupted content). */
async function forgeEngineDigest(url: string, bucket: string, object: string, bytes: Uint8Array): Promise<void> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const subject = `$O.${bucket}.M.${Buffer.from(object).toString('base64url')}${'='.repeat((4 - (Buffer.from(object).toString('base64url').length % 4)) % 4)}`;
    const meta = (await jsm.streams.getMessage(`OBJ_${bucket}`, { last_by_subj: subject }))!;
    const info = meta.json<Record<string, unknown>>();
    info['digest'] = `SHA-256=${createHash('sha256').update(bytes).digest('base64url')}=`;
    await js.publish(subject, JSON.stringify(info));
  } finally {
    await nc.close();
  }
}

describe('faults', { skip }, () => {
  it('kill -9 of an agent mid-fetch: nothing published, its segments gone; a restarted agent completes', async () => {
    const bucket = freshBucket('kill');
    const publisher = await fx.connect({ bucket, hostId: 'publisher' });
    const data = float64Data(4 << 20, 7); // 32 MiB
    const info = await publisher.publish('k', { x: data });
    const proxy = await Proxy.start(fx.server().port, { rate: 8 << 20 }); // 4 s for the store
    try {
      const host = await fx.host('k1');
      const agent = await startWorker(host, { servers: proxy.url, bucket, hostId: 'k1' });
      await ask(agent, { op: 'replicate' }, 'agent');
      await event(agent, (s) => s.name === 'k' && s.state === 'fetching');
      await waitUntil(() => proxy.stats.down > 8 << 20, 20_000, 'a quarter of the store to arrive');
      assert.ok(host.shm().some((n) => n.startsWith('sd-')), 'the fetch writes into fresh segments');
      assert.ok(!host.shm().includes('store.k'));
      agent.process.kill('SIGKILL');
      await agent.exited;
      assert.ok(!host.shm().includes('store.k'), 'nothing was published');
      await emptyShm(host); // the watchdog removed the segments and the claim

      const again = await startWorker(host, { servers: fx.server().url, bucket, hostId: 'k1' });
      await ask(again, { op: 'replicate' }, 'agent');
      const ready = await event(again, (s) => s.name === 'k' && s.state === 'ready');
      assert.equal(ready.generation, info.generation);
      const reader = await startWorker(host, { servers: fx.server().url, bucket, hostId: 'k1' });
      const o = await ask<Opened>(reader, { op: 'open', name: 'k' }, 'opened');
      assert.equal(o.fetched, 0);
      assert.equal(o.digests['x'], sha256(data));
      await Promise.all([again, reader].map(exitWorker));
      await emptyShm(host);
    } finally {
      await proxy.close();
    }
  });

  it('kill -9 of the process that holds the claim: a waiting process takes over and fetches', async () => {
    const bucket = freshBucket('claim');
    const publisher = await fx.connect({ bucket, hostId: 'publisher' });
    const data = float64Data(4 << 20, 8);
    await publisher.publish('c', { x: data });
    const proxy = await Proxy.start(fx.server().port, { rate: 8 << 20 });
    try {
      const host = await fx.host('c1');
      const slow = await startWorker(host, { servers: proxy.url, bucket, hostId: 'c1' });
      const others = await Promise.all([0, 1].map(() => startWorker(host, { servers: fx.server().url, bucket, hostId: 'c1' })));
      slow.send(JSON.stringify({ op: 'open', name: 'c' }));
      await waitUntil(() => host.shm().some((n) => n.startsWith('nc-')) && proxy.stats.down > 4 << 20, 20_000, 'the slow process to claim and fetch');
      const answers = others.map((w) => ask<Opened>(w, { op: 'open', name: 'c' }, 'opened'));
      await sleep(300); // they are waiting on the claim now
      slow.process.kill('SIGKILL');
      const opened = await Promise.all(answers);
      for (const o of opened) assert.equal(o.digests['x'], sha256(data), JSON.stringify(o).slice(0, 200));
      assert.equal(opened.reduce((n, o) => n + o.fetched, 0), 1, 'one of the waiting processes fetched');
      await Promise.all(others.map(exitWorker));
      await emptyShm(host);
    } finally {
      await proxy.close();
    }
  });

  it('a process that gives up (timeoutMs) hands the claim on: the one waiting fetches, not ETIMEDOUT', async () => {
    const bucket = freshBucket('giveup');
    const publisher = await fx.connect({ bucket, hostId: 'publisher' });
    const data = float64Data(4 << 20, 5);
    await publisher.publish('g', { x: data });
    const proxy = await Proxy.start(fx.server().port, { rate: 4 << 20 });
    try {
      const host = await fx.host('g1');
      const slow = await startWorker(host, { servers: proxy.url, bucket, hostId: 'g1' });
      const other = await startWorker(host, { servers: fx.server().url, bucket, hostId: 'g1' });
      const gaveUp = ask<WorkerMessage>(slow, { op: 'open', name: 'g', timeoutMs: 3000 }, 'opened');
      await waitUntil(() => host.shm().some((n) => n.startsWith('nc-')), 20_000, 'the slow process to claim');
      const opened = await ask<Opened>(other, { op: 'open', name: 'g' }, 'opened');
      assert.equal((await gaveUp).code, 'ETIMEDOUT');
      assert.equal(opened.op, 'opened', JSON.stringify(opened).slice(0, 300));
      assert.equal(opened.fetched, 1);
      assert.equal(opened.digests['x'], sha256(data));
      await Promise.all([slow, other].map(exitWorker));
      await emptyShm(host);
    } finally {
      await proxy.close();
    }
  });

  it('server killed and restarted mid-fetch: the fetch completes from the new server process', async (t) => {
    const bucket = freshBucket('restart');
    const publisher = await fx.connect({ bucket, hostId: 'publisher' });
    const data = float64Data(4 << 20, 9);
    const info = await publisher.publish('r', { x: data });
    await publisher.close();
    const proxy = await Proxy.start(fx.server().port, { rate: 8 << 20 });
    try {
      const host = await fx.host('r1');
      const agent = await startWorker(host, { servers: proxy.url, bucket, hostId: 'r1', stallTimeoutMs: 2000, retries: 10, reconnectTimeWait: 250 } as never);
      await ask(agent, { op: 'replicate' }, 'agent');
      await event(agent, (s) => s.name === 'r' && s.state === 'fetching');
      await waitUntil(() => proxy.stats.down > 8 << 20, 20_000, 'a quarter of the store to arrive');
      const restarted = Date.now();
      const receivedBefore = proxy.stats.down;
      await fx.server().restart(3000, 'SIGKILL'); // what was in flight is lost; down longer than the stall timeout
      proxy.options.rate = undefined;
      const ready = await event(agent, (s) => s.name === 'r' && (s.state === 'ready' || s.state === 'failed'));
      assert.equal(ready.state, 'ready', JSON.stringify(ready));
      assert.ok(Date.parse(ready.at) > restarted, 'ready only after the restart');
      assert.ok(receivedBefore < data.byteLength, `the restart came mid-fetch (${receivedBefore} bytes received before it)`);
      assert.equal(ready.generation, info.generation);
      const stats = await ask<{ stats: { retries: number; fetches: number; stalls: number } }>(agent, { op: 'stats' }, 'stats');
      assert.equal(stats.stats.fetches, 1, JSON.stringify(stats.stats));
      t.diagnostic(`the agent's counters: ${JSON.stringify(stats.stats)}`);
      const reader = await startWorker(host, { servers: fx.server().url, bucket, hostId: 'r1' });
      const o = await ask<Opened>(reader, { op: 'open', name: 'r' }, 'opened');
      assert.equal(o.digests['x'], sha256(data));
      await Promise.all([agent, reader].map(exitWorker));
    } finally {
      await proxy.close();
    }
  });

  it('the answer to the manifest pointer write is lost: the publication stands (the server stored it), its objects are kept', async () => {
    const bucket = freshBucket('lost');
    const proxy = await Proxy.start(fx.server().port);
    try {
      const publisher = await fx.connect({ servers: proxy.url, bucket, hostId: 'publisher' });
      proxy.options = { loseAnswerTo: `$KV.${bucket}-stores.` };
      const data = float64Data(1 << 12, 5);
      const info = await publisher.publish('lost', { x: data });
      assert.equal(proxy.options.loseAnswerTo, undefined, 'the answer was lost');
      const reader = await fx.connect({ bucket, hostId: 'reader' });
      assert.equal((await reader.info('lost'))!.generation, info.generation);
      using t = await reader.open('lost', { replaceLocal: true });
      assert.equal(sha256((t['x'] as StoreLeaf).data.data), sha256(data));
      unlinkStore('lost');
    } finally {
      await proxy.close();
    }
  });

  it('a get that stalls (nats.js#430, made to happen by losing flow-control replies): abandoned, then read with the ordered consumer', async () => {
    const bucket = freshBucket('stall');
    const publisher = await fx.connect({ bucket, hostId: 'publisher', chunkSize: 128 << 10 });
    const data = float64Data(2 << 20, 3); // 16 MiB in 128 chunks
    await publisher.publish('s', { x: data });
    const proxy = await Proxy.start(fx.server().port, { dropFlowControl: true });
    try {
      // the weakness itself, at the pinned nats.js: ObjectStore.get stops after the first window
      const nc = await connect({ servers: proxy.url });
      const os = await new Objm(nc).open(bucket);
      const r = (await os.get('s/' + (await publisher.info('s'))!.generation + '/0'))!;
      const reader = r.data.getReader();
      let got = 0;
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline) {
        const next = await Promise.race([reader.read(), sleep(deadline - Date.now()).then(() => undefined)]);
        if (next === undefined || next.done) break;
        got += next.value.length;
      }
      void reader.cancel();
      await nc.close();
      assert.ok(got < data.byteLength, `a plain get through the proxy received ${got} of ${data.byteLength} bytes in 3 s`);
      assert.ok(proxy.stats.droppedFlowControl > 0);

      const host = await fx.host('s1');
      // reader 'get' first: the default, 'ordered', is the workaround itself and has no flow control to lose
      const w = await startWorker(host, { servers: proxy.url, bucket, hostId: 's1', stallTimeoutMs: 1000, reader: 'get' });
      const o = await ask<Opened>(w, { op: 'open', name: 's' }, 'opened');
      assert.equal(o.op, 'opened', JSON.stringify(o));
      assert.equal(o.digests['x'], sha256(data));
      const stats = await ask<{ stats: { stalls: number } }>(w, { op: 'stats' }, 'stats');
      assert.ok(stats.stats.stalls >= 1, JSON.stringify(stats));
      await exitWorker(w);
    } finally {
      await proxy.close();
    }
  });

  it('a corrupted object: EDIGEST from the engine (stream error, `error` resolved) and from ndshm (forged engine digest); nothing published', async () => {
    const bucket = freshBucket('digest');
    const publisher = await fx.connect({ bucket, hostId: 'publisher' });
    const data = float64Data(2 << 20, 4); // 16 MiB, one object of two 8 MiB chunks
    const info = await publisher.publish('d', { x: data });
    const object = info.segments[0]!.object;
    const { offset } = await corruptLastChunk(fx.server().url, bucket, object);

    // the weakness, at the pinned nats.js: the data stream errors, the `error` promise resolves
    const nc = await connect({ servers: fx.server().url });
    const r = (await new Objm(nc).open(bucket).then((os) => os.get(object)))!;
    const reader = r.data.getReader();
    let streamError: unknown;
    try {
      for (;;) if ((await reader.read()).done) break;
    } catch (err) {
      streamError = err;
    }
    assert.match(String(streamError), /digests do not match/);
    assert.equal(await r.error, undefined, '`error` resolves although the object is corrupt');
    await nc.close();

    const host = await fx.host('d1');
    // the default reader hashes once and compares with the engine's digest itself
    const agent = await startWorker(host, { servers: fx.server().url, bucket, hostId: 'd1' });
    await ask(agent, { op: 'replicate' }, 'agent');
    const failed = await event(agent, (s) => s.name === 'd' && s.state === 'failed');
    assert.equal(failed.error?.code, 'EDIGEST');
    assert.match(failed.error!.message, /do not match the SHA-256 the engine keeps/);
    // get(): the stream's error is the verdict, whatever `error` says
    const w = await startWorker(host, { servers: fx.server().url, bucket, hostId: 'd1', reader: 'get' });
    const e1 = await ask<WorkerMessage>(w, { op: 'open', name: 'd' }, 'opened');
    assert.equal(e1.code, 'EDIGEST');
    assert.match(e1.message!, /engine found the object corrupt/);
    assert.deepEqual(host.shm(), [], 'nothing published, nothing left');

    // the engine's digest forged to match: only ndshm's own SHA-256 tells
    const corrupted = new Uint8Array(data.buffer.slice(0));
    corrupted[offset]! ^= 0xff;
    await forgeEngineDigest(fx.server().url, bucket, object, corrupted);
    const w2 = await startWorker(host, { servers: fx.server().url, bucket, hostId: 'd1' });
    for (const reader of [w, w2]) {
      const e2 = await ask<WorkerMessage>(reader, { op: 'open', name: 'd' }, 'opened');
      assert.equal(e2.code, 'EDIGEST');
      assert.match(e2.message!, /SHA-256 in the store's manifest/);
    }
    assert.deepEqual(host.shm(), []);
    await Promise.all([agent, w, w2].map(exitWorker));
  });
});
