// Helpers of the host-group tests: group names, the member snippet, joining pairs in one thread.

import { HostGroup } from '../../src/index.js';
import { shmNames } from '../helpers/shm.js';

let seq = 0;

/** A group name unique to this process and call (group names have at most 26 characters). */
export function groupName(tag = 'g'): string {
  return `g${process.pid.toString(36)}${(seq++).toString(36)}-${tag}`.slice(0, 26);
}

/** `n` members of one group, all in this thread (ranks in order). */
export async function members(n: number, options: { collectiveTimeout?: number; name?: string } = {}): Promise<HostGroup[]> {
  const name = options.name ?? groupName('p');
  const groups = await Promise.all(
    Array.from({ length: n }, (_, rank) =>
      HostGroup.join(name, { size: n, rank, timeout: 20_000, ...(options.collectiveTimeout === undefined ? {} : { collectiveTimeout: options.collectiveTimeout }) }),
    ),
  );
  return groups;
}

/** Segments of this user whose names show a host group ("grp.") or that are new since `before`. */
export function groupSegments(): string[] {
  return shmNames().filter((n) => n.startsWith('grp.'));
}

/**
 * A member process (a test snippet): joins (args[0] a group name, or 'env' for HostGroup.fromEnv()),
 * args[1] the size, args[2] an explicit rank or ''. It makes a [size, 1000] float64 host array,
 * fills its block (LocalNdarray.forRank) with rank + 1, meets at a barrier, checks every block,
 * broadcasts and gathers, tracks 1000 private bytes, and reports; then cleans up (twice: idempotent)
 * and closes.
 */
export const memberSnippet = `
  const size = Number(args[1]);
  const g = args[0] === 'env'
    ? await nd.HostGroup.fromEnv()
    : await nd.HostGroup.join(args[0], { size, timeout: 30000, ...(args[2] ? { rank: Number(args[2]) } : {}) });
  const ra = new nd.ResourceAllocation({ hostGroup: g });
  const [m, shm] = await nd.createSharedNdarray(ra, [g.size, 1000], 'float64', { zeroOut: true, memoryTracker: ra });
  const mine = nd.LocalNdarray.forRank(m, g.rank, g.size);
  mine.array.fill(g.rank + 1);
  await g.barrier();
  let ok = true;
  for (let r = 0; r < g.size; r++) for (let j = 0; j < 1000; j += 37) if (m.get(r, j) !== r + 1) ok = false;
  const bc = await g.broadcast(g.isLeader ? { handle: shm === null ? null : shm.handle, note: 'from the leader' } : undefined);
  const all = await g.gather({ rank: g.rank, pid: process.pid });
  const afterShared = ra.trackedMemory;
  await g.barrier();
  ra.addTrackedMemory(1000);
  await g.barrier();
  const afterPrivate = ra.trackedMemory;
  send({ rank: g.rank, size: g.size, name: g.name, shared: shm !== null, array: m.name ?? null, isShared: m.isShared(), ok, bc, all, afterShared, afterPrivate, local: shm === null ? null : mine.handle });
  await nd.cleanupSharedNdarray(shm);
  await nd.cleanupSharedNdarray(shm);
  const released = m.released;
  await g.close();
  send({ done: true, released });`;
