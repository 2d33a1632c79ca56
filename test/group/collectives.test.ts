// Host-group semantics with every member in this thread: joining rules, collectives (order,
// mismatches, failures that reach every member, timeouts, close), createSharedNdarray and cleanup,
// the memory tracker, sharedMemIsEnabled.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { HostGroup, NdshmError, ResourceAllocation, SharedNDArray, cleanupSharedNdarray, createSharedNdarray, runtimeInfo, sharedMemIsEnabled } from '../../src/index.js';
import { exists, shmNames } from '../helpers/shm.js';
import { rejectionCode } from '../sync/util.js';
import { groupName, groupSegments, members } from './util.js';

const codeOf = (e: unknown): string => (e instanceof NdshmError ? e.code : `not an NdshmError: ${String(e)}`);

async function closeAll(groups: HostGroup[]): Promise<void> {
  for (const g of groups) await g.close();
}

describe('joining', () => {
  it('arrival-order ranks, explicit ranks in any order, leader = rank 0; the group segment is gone once complete', async () => {
    const name = groupName('a');
    const gs = await Promise.all([0, 1, 2].map(() => HostGroup.join(name, { size: 3 })));
    assert.deepEqual(gs.map((g) => g.rank).sort(), [0, 1, 2]);
    assert.deepEqual(gs.map((g) => g.isLeader), gs.map((g) => g.rank === 0));
    assert.ok(gs.every((g) => g.size === 3 && g.name === name && !g.closed && !g.broken));
    assert.equal(exists(`grp.${name}`), false, 'the rendezvous name is removed once the group is complete');
    await closeAll(gs);
    const again = await Promise.all([2, 0, 1].map((rank) => HostGroup.join(name, { size: 3, rank })));
    assert.deepEqual(again.map((g) => g.rank), [2, 0, 1], 'the same name again, explicit ranks');
    await closeAll(again);
  });

  it('a group of one needs nobody; its collectives return at once', async () => {
    const g = await HostGroup.join(groupName('one'), { size: 1 });
    assert.equal(g.rank, 0);
    assert.equal(g.isLeader, true);
    await g.barrier();
    const v = { a: [1, 2] };
    assert.equal(await g.broadcast(v), v);
    assert.deepEqual(await g.gather('x'), ['x']);
    await assert.rejects(g.broadcast(1n), (e) => codeOf(e) === 'EINVAL', 'still JSON only');
    await g.close();
    assert.equal(await rejectionCode(g.barrier()), 'ECLOSED');
  });

  it('a rank taken, a size that differs, a timeout, an abort', async () => {
    const name = groupName('r');
    const first = HostGroup.join(name, { size: 2, rank: 0, timeout: 5000 });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await rejectionCode(HostGroup.join(name, { size: 2, rank: 0, timeout: 5000 })), 'EINVAL');
    assert.equal(await rejectionCode(HostGroup.join(name, { size: 3, timeout: 5000 })), 'EINVAL');
    const second = await HostGroup.join(name, { size: 2, rank: 1, timeout: 5000 });
    const g0 = await first;
    await closeAll([g0, second]);

    const t = performance.now();
    assert.equal(await rejectionCode(HostGroup.join(groupName('t'), { size: 2, timeout: 100 })), 'ETIMEDOUT');
    assert.ok(performance.now() - t >= 95);

    const ac = new AbortController();
    const pending = HostGroup.join(groupName('ab'), { size: 2, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop')), 30);
    assert.equal(await rejectionCode(pending), 'EABORTED');
    assert.deepEqual(groupSegments(), []);
  });

  it('fromEnv: without NDSHM_GROUP a group of one; a partial or bad environment is EINVAL', async () => {
    const g = await HostGroup.fromEnv({});
    assert.equal(g.size, 1);
    await g.close();
    const name = groupName('env');
    const [a, b] = await Promise.all([
      HostGroup.fromEnv({ NDSHM_GROUP: name, NDSHM_RANK: '1', NDSHM_SIZE: '2', NDSHM_GROUP_TIMEOUT: '5000' }),
      HostGroup.fromEnv({ NDSHM_GROUP: name, NDSHM_RANK: '0', NDSHM_SIZE: '2' }),
    ]);
    assert.deepEqual([a.rank, b.rank], [1, 0]);
    await closeAll([a, b]);
    for (const env of [{ NDSHM_RANK: '0' }, { NDSHM_GROUP: 'x' }, { NDSHM_GROUP: 'x', NDSHM_RANK: 'one', NDSHM_SIZE: '2' }, { NDSHM_GROUP: 'x', NDSHM_RANK: '2', NDSHM_SIZE: '2' }]) {
      assert.equal(await rejectionCode(HostGroup.fromEnv(env)), 'EINVAL', JSON.stringify(env));
    }
  });
});

describe('collectives', () => {
  it('barrier, broadcast from any root, gather; calls of one member queue in call order', async () => {
    const gs = await members(3);
    const values = await Promise.all(gs.map((g) => g.broadcast(g.rank === 2 ? { from: 2, list: [1, 'x', null] } : 'ignored', 2)));
    assert.deepEqual(values, [{ from: 2, list: [1, 'x', null] }, { from: 2, list: [1, 'x', null] }, { from: 2, list: [1, 'x', null] }]);
    assert.deepEqual(await Promise.all(gs.map((g) => g.broadcast(undefined))), [undefined, undefined, undefined]);
    // Three calls per member without awaiting in between: still three rounds, in order.
    const results = await Promise.all(gs.map((g) => Promise.all([g.barrier(), g.gather(g.rank * 10), g.broadcast(g.rank === 0 ? 'last' : null)])));
    for (const [, gathered, last] of results) {
      assert.deepEqual(gathered, [0, 10, 20]);
      assert.equal(last, 'last');
    }
    await closeAll(gs);
  });

  it('members making different calls, or a member with bad arguments: EINVAL on every member, and the group goes on', async () => {
    const [a, b] = await members(2);
    const mixed = await Promise.allSettled([a.barrier(), b.gather(1)]);
    assert.deepEqual(mixed.map((r) => (r.status === 'rejected' ? codeOf(r.reason) : 'ok')), ['EINVAL', 'EINVAL']);
    assert.match(String((mixed[0] as PromiseRejectedResult).reason.message), /rank 0: barrier\(\); rank 1: gather\(\)/);
    const roots = await Promise.allSettled([a.broadcast(1, 0), b.broadcast(1, 1)]);
    assert.deepEqual(roots.map((r) => r.status === 'rejected' && codeOf(r.reason)), ['EINVAL', 'EINVAL']);
    const big = await Promise.allSettled([a.broadcast('x'.repeat(70_000)), b.broadcast(null)]);
    assert.deepEqual(big.map((r) => r.status === 'rejected' && codeOf(r.reason)), ['EINVAL', 'EINVAL']);
    assert.match(String((big[1] as PromiseRejectedResult).reason.message), /rank 0 failed: .*70002 bytes of JSON/);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    const bad = await Promise.allSettled([a.gather(cyclic), b.gather(2, { timeout: -1 })]);
    assert.deepEqual(bad.map((r) => r.status === 'rejected' && codeOf(r.reason)), ['EINVAL', 'EINVAL']);
    assert.deepEqual(await Promise.all([a.gather('a'), b.gather('b')]), [['a', 'b'], ['a', 'b']], 'still usable');
    await closeAll([a, b]);
  });

  it('a timeout: ETIMEDOUT for the member that waited, EBROKEN for the others afterwards; an abort likewise', async () => {
    let [a, b] = await members(2);
    assert.equal(await rejectionCode(a.barrier({ timeout: 50 })), 'ETIMEDOUT');
    assert.equal(a.broken, true);
    const late = await Promise.allSettled([b.barrier()]);
    assert.equal(codeOf((late[0] as PromiseRejectedResult).reason), 'EBROKEN');
    assert.match(String((late[0] as PromiseRejectedResult).reason.message), /rank 0 \(pid \d+\) timed out/);
    await closeAll([a, b]);

    [a, b] = await members(2, { collectiveTimeout: 40 });
    assert.equal(await rejectionCode(b.gather(1)), 'ETIMEDOUT', 'the group\'s default collectiveTimeout');
    await closeAll([a, b]);

    [a, b] = await members(2);
    const ac = new AbortController();
    const p = a.barrier({ signal: ac.signal });
    ac.abort();
    assert.equal(await rejectionCode(p), 'EABORTED');
    assert.equal(await rejectionCode(b.barrier()), 'EBROKEN');
    await closeAll([a, b]);
  });

  it('close(): the member\'s pending calls reject with ECLOSED, the others\' with EBROKEN; close twice is fine', async () => {
    const [a, b, c] = await members(3);
    const pendingA = a.barrier();
    const pendingB = b.barrier();
    await new Promise((r) => setTimeout(r, 20));
    await a.close();
    await a.close();
    assert.equal(a.closed, true);
    assert.equal(await rejectionCode(pendingA), 'ECLOSED');
    await assert.rejects(pendingB, (e: Error) => codeOf(e) === 'EBROKEN' && /rank 0 \(pid \d+\) left the group/.test(e.message));
    assert.equal(await rejectionCode(c.gather(1)), 'EBROKEN');
    assert.equal(await rejectionCode(a.barrier()), 'ECLOSED');
    await closeAll([b, c]);
  });
});

describe('createSharedNdarray and cleanupSharedNdarray', () => {
  it('shared for a group, private without one (or for size 0, or with shared memory disabled); zeroOut; cleanup is idempotent', async () => {
    const [a, b] = await members(2);
    const ra = new ResourceAllocation({ hostGroup: a });
    const rb = new ResourceAllocation({ hostGroup: b });
    const [[x, sx], [y, sy]] = await Promise.all([createSharedNdarray(ra, [3, 4], 'int16', { zeroOut: true }), createSharedNdarray(rb, [3, 4], 'int16')]);
    assert.ok(sx !== null && sy !== null);
    assert.equal(x.name, y.name);
    assert.equal(sx.name, x.name);
    assert.equal(sx.size, 24);
    assert.deepEqual(x.toArray(), [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]);
    y.set(2, 3, -7);
    assert.equal(x.get(2, 3), -7);
    assert.equal(SharedNDArray.open(sx.handle).get(2, 3), -7);
    const name = x.name!;
    await Promise.all([cleanupSharedNdarray(sy), cleanupSharedNdarray(sx)]);
    assert.equal(exists(name), false);
    assert.ok(x.released && y.released && sx.released);
    await cleanupSharedNdarray(sx);
    await cleanupSharedNdarray(null);

    const [[z0, s0], [z1, s1]] = await Promise.all([createSharedNdarray(ra, [0, 5]), createSharedNdarray(rb, [0, 5])]);
    assert.equal(s0, null);
    assert.equal(s1, null);
    assert.equal(z0.isShared() || z1.isShared(), false, 'no elements: private, as pyGSTi');

    const [p, ps] = await createSharedNdarray(null, [2, 2], 'float32', { zeroOut: true });
    assert.equal(ps, null);
    assert.equal(p.isShared(), false);
    assert.deepEqual(p.toArray(), [[0, 0], [0, 0]]);

    process.env['NDSHM_USE_SHARED_MEMORY'] = '0';
    try {
      assert.equal(sharedMemIsEnabled(), false);
      const [q, qs] = await createSharedNdarray(ra, [2], 'float64'); // no collective: nobody else calls
      assert.equal(qs, null);
      assert.equal(q.isShared(), false);
    } finally {
      delete process.env['NDSHM_USE_SHARED_MEMORY'];
    }
    assert.equal(sharedMemIsEnabled(), true);
    await closeAll([a, b]);
  });

  it('a failure anywhere fails the call everywhere: different shapes (EINVAL, one of them empty too), the leader cannot create (ETOOBIG or ENOSPC), a tracker past its memLimit (ENOMEM); nothing is left', async () => {
    const before = new Set(shmNames());
    const [a, b] = await members(2);
    const ra = new ResourceAllocation({ hostGroup: a });
    const rb = new ResourceAllocation({ hostGroup: b, memLimit: 1000 });
    const settled = async (pa: Promise<unknown>, pb: Promise<unknown>): Promise<string[]> =>
      (await Promise.allSettled([pa, pb])).map((r) => (r.status === 'rejected' ? codeOf(r.reason) : 'ok'));
    assert.deepEqual(await settled(createSharedNdarray(ra, [2, 3]), createSharedNdarray(rb, [3, 2])), ['EINVAL', 'EINVAL']);
    assert.deepEqual(await settled(createSharedNdarray(ra, [2, 3], 'int8'), createSharedNdarray(rb, [2, 3], 'uint8')), ['EINVAL', 'EINVAL']);
    // one member asks for an empty array: it takes part in the round too, so nobody waits for it
    assert.deepEqual(await settled(createSharedNdarray(ra, [0, 5]), createSharedNdarray(rb, [3, 5])), ['EINVAL', 'EINVAL']);
    assert.deepEqual(await settled(createSharedNdarray(ra, [3, 5]), createSharedNdarray(rb, [0, 5])), ['EINVAL', 'EINVAL']);
    // 8 TiB: more than a mapping may be on Node 20 (ETOOBIG), more than /dev/shm holds on 22+ (ENOSPC).
    const tooMuch = runtimeInfo().maxMappingLength < 2 ** 43 ? 'ETOOBIG' : 'ENOSPC';
    assert.deepEqual(await settled(createSharedNdarray(ra, [2 ** 40], 'float64'), createSharedNdarray(rb, [2 ** 40], 'float64')), [tooMuch, tooMuch]);
    assert.deepEqual(await settled(createSharedNdarray(ra, [1000], 'float64', { memoryTracker: ra }), createSharedNdarray(rb, [1000], 'float64', { memoryTracker: rb })), ['ENOMEM', 'ENOMEM']);
    assert.deepEqual(ra.trackedMemory, { process: 0, processPeak: 4000, host: 0, hostPeak: 8000 }, 'rolled back where it was counted');
    assert.deepEqual(await settled(createSharedNdarray(ra, [2], 'no-such-dtype'), createSharedNdarray(rb, [2])), ['EINVAL', 'EINVAL']);
    assert.deepEqual(shmNames().filter((n) => !before.has(n) && !n.startsWith('nds-')), [], 'no array left behind');
    const ok = await Promise.all([createSharedNdarray(ra, [4]), createSharedNdarray(rb, [4])]);
    await Promise.all(ok.map(([, shm]) => cleanupSharedNdarray(shm)));
    await closeAll([a, b]);
  });

  it('cleanup after a member left does not wait; the leader\'s cleanup removes the array', async () => {
    const [a, b] = await members(2);
    const [[x, sx], [, sy]] = await Promise.all([createSharedNdarray(new ResourceAllocation({ hostGroup: a }), [8]), createSharedNdarray(new ResourceAllocation({ hostGroup: b }), [8])]);
    await b.close();
    await cleanupSharedNdarray(sy);
    assert.ok(exists(x.name!));
    await cleanupSharedNdarray(sx);
    assert.equal(exists(x.name!), false);
    await a.close();
  });

  it('the memory tracker: real bytes of the real dtype, shared arrays once per host, peaks, memLimit, temporarily', async () => {
    const gs = await members(4);
    const ras = gs.map((g) => new ResourceAllocation({ hostGroup: g }));
    const made = await Promise.all(gs.map((_, i) => createSharedNdarray(ras[i]!, [1001], 'int16', { memoryTracker: ras[i]! })));
    // 2002 bytes: 500 each, the leader 502; the host counts 2002 once.
    assert.deepEqual(ras.map((r) => r.trackedMemory.process), [502, 500, 500, 500]);
    assert.ok(ras.every((r) => r.trackedMemory.host === 2002));
    ras[1]!.addTrackedMemory(100);
    assert.equal(ras[3]!.trackedMemory.host, 2102, 'private bytes of any member reach the host total');
    await Promise.all(made.map(([, shm]) => cleanupSharedNdarray(shm)));
    assert.deepEqual(ras.map((r) => r.trackedMemory.process), [0, 100, 0, 0]);
    assert.deepEqual(ras[0]!.trackedMemory, { process: 0, processPeak: 502, host: 100, hostPeak: 2102 });
    assert.equal(ras[0]!.isHostLeader, true);
    assert.equal(ras[2]!.isHostLeader, false);
    await Promise.all(ras.map((r) => r.hostGroupBarrier()));
    await closeAll(gs);

    const solo = new ResourceAllocation({ memLimit: 100 });
    assert.equal(solo.isHostLeader, true);
    await solo.hostGroupBarrier();
    {
      using _t = solo.temporarilyTrackMemory(60);
      assert.equal(solo.allocatedMemory, 60);
      assert.throws(() => solo.addTrackedMemory(41), (e) => codeOf(e) === 'ENOMEM');
      assert.throws(() => solo.checkCanAllocateMemory(41), (e) => codeOf(e) === 'ENOMEM');
      solo.checkCanAllocateMemory(40);
    }
    assert.deepEqual(solo.trackedMemory, { process: 0, processPeak: 60, host: 0, hostPeak: 60 });
    const [, none] = await createSharedNdarray(solo, [10], 'float64', { memoryTracker: solo });
    assert.equal(none, null);
    assert.equal(solo.allocatedMemory, 80, 'a private array is tracked too, in real bytes');
  });
});
