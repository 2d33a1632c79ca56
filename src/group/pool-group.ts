// A pool whose workers and caller form one host group: pyGSTi-style collective code (barriers,
// broadcasts, createSharedNdarray) in pool tasks. The caller is rank 0, the leader; worker i is
// rank i + 1. Each worker joins when it starts, by the pool's initializer (Python's Pool
// initializer), so the group is formed before any task runs.
//
// Membership is fixed, as in MPI: a worker that ends (killed, recycled) breaks the group for the
// others (EPEERDIED), and the worker that replaces it is not a member. Close the group before the
// pool.

import { randomBytes } from 'node:crypto';

import { NdshmError, invalid, show } from '../errors.js';
import { checkOptions } from '../options.js';
import { parallelEnabled, processPool, threadPool } from '../pool/index.js';
import { defaultSize } from '../pool/options.js';
import type { Pool, PoolOptions } from '../pool/index.js';
import { currentWorker } from '../pool/runtime.js';
import { HostGroup } from './host-group.js';

export interface GroupPoolOptions extends Omit<PoolOptions, 'initializer' | 'initargs' | 'maxTasksPerWorker'> {
  /** How long to wait for the group to form, in ms (default 60,000). */
  timeout?: number;
}

let joined: Promise<HostGroup> | undefined;
let refusal: NdshmError | undefined;

/** The initializer of a group pool's workers (a pool task, by its module and name): joins the group. */
export async function joinPoolGroup(name: string, size: number, timeout: number): Promise<void> {
  const worker = currentWorker();
  if (worker === undefined) throw invalid('joinPoolGroup runs in the workers of a group pool');
  if (worker.replacement === true) {
    refusal = new NdshmError('EBROKEN', `pool worker ${worker.index} replaces one that ended: it is not a member of the pool's host group "${name}" (a formed group takes no new members)`);
    return;
  }
  joined = HostGroup.join(name, { size, rank: worker.index + 1, timeout });
  await joined;
}

/**
 * In a task of a group pool: this worker's HostGroup (rank = worker index + 1; the pool's caller is
 * rank 0). EINVAL outside the workers of a group pool; EBROKEN in a worker that replaced one.
 */
export function poolGroup(): Promise<HostGroup> {
  if (refusal !== undefined) return Promise.reject(refusal);
  if (joined === undefined) return Promise.reject(invalid('poolGroup() is for tasks running in the workers of a pool made by groupPool()'));
  return joined;
}

/**
 * A process or thread pool of `size` workers that, with the caller, form a host group of size + 1:
 * resolves once every worker has started and the group is formed. `maxTasksPerWorker` is not an
 * option (a recycled worker would leave the group).
 */
export async function groupPool(kind: 'process' | 'thread', options?: GroupPoolOptions): Promise<{ pool: Pool; group: HostGroup }> {
  if (kind !== 'process' && kind !== 'thread') throw invalid(`groupPool: kind must be 'process' or 'thread', got ${show(kind)}`);
  const opts = checkOptions(options, ['size', 'nativeThreads', 'execArgv', 'env', 'resourceLimits', 'timeout'], 'groupPool');
  const { timeout: rawTimeout, ...poolOptions } = opts;
  const timeout = rawTimeout ?? 60_000;
  if (typeof timeout !== 'number' || !Number.isSafeInteger(timeout) || timeout < 1) throw invalid(`groupPool: timeout must be a positive integer (ms), got ${show(rawTimeout)}`);
  // Under noParallel() the pool would be a SerialPool, which has no workers to form a group with.
  if (!parallelEnabled()) throw invalid('groupPool: parallelism is off here (noParallel): a serial pool has no workers to form a group with');
  const name = `pl-${randomBytes(9).toString('base64url')}`;
  const make = kind === 'process' ? processPool : threadPool;
  const size = (poolOptions.size as number | undefined) ?? defaultSize(kind);
  const pool = make({ ...poolOptions, size, initializer: { module: import.meta.url, name: 'joinPoolGroup' }, initargs: [name, size + 1, timeout] });
  const giveUp = new AbortController();
  const leader = HostGroup.join(name, { size: pool.size + 1, rank: 0, timeout, signal: giveUp.signal });
  try {
    const [group] = await Promise.all([leader, pool.start()]);
    return { pool, group };
  } catch (err) {
    giveUp.abort(); // the leader's join stops waiting (and leaves nothing), or its group is closed
    leader.then((g) => g.close(), () => undefined);
    await pool.terminate();
    throw err;
  }
}
