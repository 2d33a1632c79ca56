// A pool whose workers form a host group with the caller (way (a) of joining a group): the caller is
// rank 0, worker i rank i + 1; collectives and createSharedNdarray work across the caller and the
// tasks; a killed worker breaks the group; a replacement worker is not a member.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { type SharedNDArray, ResourceAllocation, cleanupSharedNdarray, createSharedNdarray, groupPool, isNdshmError, noParallel, poolGroup } from '../../src/index.js';

const tasks = new URL('./pool-tasks.js', import.meta.url).href;

for (const kind of ['process', 'thread'] as const) {
  describe(`groupPool('${kind}')`, () => {
    for (const size of [1, 2, 3]) {
      it(`${size} worker(s) and the caller form a group of ${size + 1}: ranks, a collective array filled by the tasks`, async () => {
        const { pool, group } = await groupPool(kind, { size });
        try {
          assert.equal(group.rank, 0);
          assert.equal(group.size, size + 1);
          assert.equal(group.isLeader, true);
          const ranks = (await pool.map({ module: tasks, name: 'whoAmI' }, Array.from({ length: size }, (_, i) => i))) as { rank: number; size: number; leader: boolean }[];
          assert.deepEqual(ranks.map((r) => r.rank).sort(), Array.from({ length: size }, (_, i) => i + 1));
          assert.ok(ranks.every((r) => r.size === size + 1 && !r.leader));

          const cols = 5;
          const work = pool.map({ module: tasks, name: 'fillRow' }, Array.from({ length: size }, () => cols), { chunksize: 1 });
          const ra = new ResourceAllocation({ hostGroup: group });
          const [a, shm] = await createSharedNdarray(ra, [size + 1, cols], 'float64', { zeroOut: true });
          (a as SharedNDArray).slice(0).fill(1);
          await group.barrier();
          const rows = (a as SharedNDArray).toArray() as number[][];
          assert.deepEqual(rows.map((r) => r[0]), Array.from({ length: size + 1 }, (_, r) => r + 1), 'every member\'s row is seen by the leader');
          await group.barrier();
          await cleanupSharedNdarray(shm);
          assert.deepEqual((await work).sort(), Array.from({ length: size }, (_, i) => i + 1));
        } finally {
          await group.close();
          await pool.terminate();
        }
      });
    }

    it('outside a group pool poolGroup() is EINVAL; maxTasksPerWorker is not an option', async () => {
      await assert.rejects(poolGroup(), (e) => isNdshmError(e, 'EINVAL'));
      await assert.rejects(groupPool(kind, { size: 1, maxTasksPerWorker: 2 } as never), (e) => isNdshmError(e, 'EINVAL'));
    });

    it('under noParallel() it is EINVAL at once (a serial pool has no workers to form a group with)', async () => {
      const started = Date.now();
      await noParallel(() => assert.rejects(groupPool(kind, { size: 2, timeout: 30_000 }), (e) => isNdshmError(e, 'EINVAL')));
      assert.ok(Date.now() - started < 5000, 'not after the join timeout');
    });
  });
}

describe('a group pool worker that dies', () => {
  it('breaks the group for the caller (EPEERDIED); its replacement is not a member (EBROKEN)', async () => {
    const { pool, group } = await groupPool('process', { size: 2 });
    try {
      const victim = (await pool.apply({ module: tasks, name: 'pid' }, [])) as number;
      process.kill(victim, 'SIGKILL');
      await assert.rejects(group.barrier({ timeout: 5000 }), (e) => isNdshmError(e, 'EPEERDIED'));
      // The pool goes on; a task on the replacement worker is told it is not a member.
      const answers = await Promise.allSettled(Array.from({ length: 4 }, () => pool.apply({ module: tasks, name: 'whoAmI' }, [])));
      assert.ok(answers.some((a) => a.status === 'rejected' && isNdshmError(a.reason, 'ETASK') && isNdshmError((a.reason as Error).cause, 'EBROKEN')), JSON.stringify(answers.map((a) => a.status)));
    } finally {
      await group.close().catch(() => undefined);
      await pool.terminate();
    }
  });
});
