// The per-host agent: new generations swap in atomically while processes read the old one (their
// arrays unchanged), removal unlinks the local copies (open arrays stay valid), a host whose /dev/shm
// is too small reports ENOSPC before any transfer.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { isNdshmError } from '../../src/index.js';
import { type Opened, type WorkerMessage, ask, clusterFixture, clusterSkip, event, exitWorker, float64Data, freshBucket, sha256, startWorker } from './setup.js';

const skip = clusterSkip();
const fx = clusterFixture(skip);

const segmentsOf = (names: string[]): string[] => names.filter((n) => n.startsWith('sd-'));

describe('agent', { skip }, () => {
  it('overwrite while hosts read the old generation, then unpublish', async () => {
    const bucket = freshBucket('over');
    const publisher = await fx.connect({ bucket, hostId: 'publisher', graceMs: 300 });
    const gen1 = float64Data(4 << 20, 1); // 32 MiB
    const gen2 = float64Data(4 << 20, 2);
    const small1 = new Uint8Array([1, 2, 3]);
    const small2 = new Uint8Array([4, 5, 6, 7]);
    const first = await publisher.publish('feat', { x: gen1, s: small1 });

    const hosts = await Promise.all(['a', 'b'].map((id) => fx.host(id)));
    const agents = await Promise.all(hosts.map((h) => startWorker(h, { servers: fx.server().url, bucket, hostId: h.id })));
    const readers = await Promise.all(hosts.map((h) => startWorker(h, { servers: fx.server().url, bucket, hostId: h.id })));
    await Promise.all(agents.map((a) => ask(a, { op: 'replicate' }, 'agent')));
    const ready1 = await publisher.waitReplicated('feat', { hosts: ['a', 'b'], timeoutMs: 60_000 });
    assert.deepEqual(ready1.map((s) => [s.host, s.state, s.generation]), [['a', 'ready', first.generation], ['b', 'ready', first.generation]]);

    // readers attach the agents' copies: no fetch of their own
    for (const r of readers) {
      const o = await ask<Opened>(r, { op: 'open', name: 'feat' }, 'opened');
      assert.equal(o.fetched, 0);
      assert.equal(o.digests['x'], sha256(gen1));
    }

    const second = await publisher.publish('feat', { x: gen2, s: small2 }, { overwrite: true });
    assert.notEqual(second.generation, first.generation);
    assert.ok(second.revision > first.revision);
    const ready2 = await publisher.waitReplicated('feat', { hosts: 2, timeoutMs: 60_000 });
    assert.deepEqual(ready2.map((s) => [s.host, s.generation]), [['a', second.generation], ['b', second.generation]]);

    for (const [i, r] of readers.entries()) {
      // the arrays opened before the swap still hold generation 1
      const held = await ask<{ trees: Record<string, string>[] }>(r, { op: 'check' }, 'checked');
      assert.equal(held.trees[0]!['x'], sha256(gen1));
      assert.equal(held.trees[0]!['s'], sha256(small1));
      // a new open sees generation 2, still without a fetch
      const o = await ask<Opened>(r, { op: 'open', name: 'feat' }, 'opened');
      assert.equal(o.fetched, 0);
      assert.equal(o.digests['x'], sha256(gen2));
      assert.equal(o.digests['s'], sha256(small2));
      // only generation 2's segments are left in the host's /dev/shm (generation 1's were unlinked
      // at the swap; the reader's mappings keep their memory)
      const names = hosts[i]!.shm();
      assert.deepEqual(names.filter((n) => !n.startsWith('sd-')), ['store.feat']);
      assert.equal(segmentsOf(names).length, 2, names.join(', '));
    }

    // generation 1's objects go after the grace period
    await sleep(1000);
    assert.deepEqual(await publisher.gc({ dryRun: true, graceMs: 0 }), []);

    // unpublish: the agents unlink their copies, the readers' arrays stay valid
    assert.equal(await publisher.unpublish('feat'), true);
    for (const a of agents) await event(a, (s) => s.name === 'feat' && s.state === 'removed');
    for (const [i, r] of readers.entries()) {
      assert.deepEqual(hosts[i]!.shm(), []);
      const held = await ask<{ trees: Record<string, string>[] }>(r, { op: 'check' }, 'checked');
      assert.equal(held.trees[0]!['x'], sha256(gen1));
      assert.equal(held.trees[1]!['x'], sha256(gen2));
      const gone = await ask<WorkerMessage>(r, { op: 'open', name: 'feat' }, 'opened');
      assert.equal(gone.code, 'ENOENT');
    }
    assert.equal(await publisher.info('feat'), null);
    assert.equal(await publisher.unpublish('feat'), false);
    await Promise.all([...agents, ...readers].map(exitWorker));
  });

  it('a host whose /dev/shm is too small: ENOSPC before any transfer, reported as its state', async () => {
    const bucket = freshBucket('nospc');
    const publisher = await fx.connect({ bucket, hostId: 'publisher' });
    const big = await publisher.publish('big', { x: float64Data(4 << 20) }); // 32 MiB
    const small = await fx.host('small', '8m');
    const agent = await startWorker(small, { servers: fx.server().url, bucket, hostId: 'small' });
    const before = await fx.server().varz();
    await ask(agent, { op: 'replicate' }, 'agent');
    const failed = await event(agent, (s) => s.name === 'big' && s.state === 'failed');
    assert.equal(failed.error?.code, 'ENOSPC');
    assert.equal(failed.generation, big.generation);
    const sent = (await fx.server().varz()).out_bytes - before.out_bytes;
    assert.ok(sent < 1 << 20, `the server sent ${sent} bytes to a host that could not hold the store`);
    await assert.rejects(publisher.waitReplicated('big', { hosts: ['small'], timeoutMs: 10_000 }), (err) => isNdshmError(err, 'ENOSPC') && /small/.test(err.message));
    // open() on that host says the same
    const reader = await startWorker(small, { servers: fx.server().url, bucket, hostId: 'small' });
    const e = await ask<WorkerMessage>(reader, { op: 'open', name: 'big' }, 'opened');
    assert.equal(e.code, 'ENOSPC');
    assert.deepEqual(small.shm(), []);
    await Promise.all([agent, reader].map(exitWorker));
  });

  it('waitReplicated: ETIMEDOUT when too few hosts report, ENOENT for no store', async () => {
    const bucket = freshBucket('wait');
    const publisher = await fx.connect({ bucket, hostId: 'publisher' });
    await publisher.publish('w', { x: new Float64Array(10) });
    await assert.rejects(publisher.waitReplicated('w', { hosts: 1, timeoutMs: 300 }), (err) => isNdshmError(err, 'ETIMEDOUT'));
    await assert.rejects(publisher.waitReplicated('nothing', { hosts: 1, timeoutMs: 300 }), (err) => isNdshmError(err, 'ENOENT'));
    await assert.rejects(publisher.waitReplicated('w', { hosts: 0 }), (err) => isNdshmError(err, 'EINVAL'));
  });
});
