// Tasks of the group-pool tests: they run in the workers of a pool made by groupPool().

import { type SharedNDArray, createSharedNdarray, poolGroup, ResourceAllocation, cleanupSharedNdarray } from '../../src/index.js';

export async function whoAmI(): Promise<{ rank: number; size: number; leader: boolean }> {
  const g = await poolGroup();
  return { rank: g.rank, size: g.size, leader: g.isLeader };
}

/** pyGSTi's pattern in a pool task: collective create, fill my row, barrier, the leader sums, cleanup. */
export async function fillRow(cols: number): Promise<number> {
  const g = await poolGroup();
  const ra = new ResourceAllocation({ hostGroup: g });
  const [a, shm] = await createSharedNdarray(ra, [g.size, cols], 'float64', { zeroOut: true });
  (a as SharedNDArray).slice(g.rank).fill(g.rank + 1);
  await g.barrier();
  await g.barrier(); // the leader reads between the two
  await cleanupSharedNdarray(shm);
  return g.rank;
}

export function pid(): number {
  return process.pid;
}
