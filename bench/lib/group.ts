// Host-group benchmarks: group names, and the check that a scenario left no group segment or array
// of its own in /dev/shm (the members' segments are named by the library, not by benchName).

import { newEntries, shmEntries } from './shm.js';

let seq = 0;

const prefix = `bg${process.pid.toString(36)}`;

/** A fresh group name (at most 26 characters). */
export function benchGroupName(tag: string): string {
  return `${prefix}${(seq++).toString(36)}-${tag}`.slice(0, 26);
}

/**
 * Runs `fn`, then fails if a rendezvous segment of this run's groups is left. (Their arrays and
 * barriers have random names that cannot be told apart from other programs' on a shared /dev/shm;
 * test/group checks those in a private one.)
 */
export async function leavingNothing<T>(fn: () => Promise<T>): Promise<T> {
  const before = shmEntries();
  const result = await fn();
  await new Promise((r) => setTimeout(r, 200)); // watchdogs of ended children
  const left = newEntries(before).filter((n) => n.startsWith(`grp.${prefix}`));
  if (left.length > 0) throw new Error(`left in /dev/shm: ${left.join(', ')}`);
  return result;
}
