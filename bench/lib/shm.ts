// Names for benchmark segments and the check that a run leaves /dev/shm as it found it.

import { readdirSync } from 'node:fs';

const shmDir = '/dev/shm';
const prefix = `bench-${process.pid.toString(36)}-`;
let seq = 0;

/** A fresh segment name: "bench-", this process, a sequence number and `tag`; at most 30 characters. */
export function benchName(tag: string): string {
  return `${prefix}${(seq++).toString(36)}-${tag}`.slice(0, 30);
}

/** True for names this process made with benchName. */
export function isOurs(name: string): boolean {
  return name.startsWith(prefix);
}

export function shmEntries(): Set<string> {
  return new Set(readdirSync(shmDir));
}

/** Entries of /dev/shm that were not there in `before`. */
export function newEntries(before: ReadonlySet<string>): string[] {
  return [...shmEntries()].filter((n) => !before.has(n)).sort();
}
